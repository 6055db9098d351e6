"""The agent refuses a state directory another account could write (posix: modes, owners)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from transom.agent.statedir import StateDirError, secure_state_dir

pytestmark = pytest.mark.posix_only("file modes and owners")


def test_a_missing_state_directory_is_created_private(tmp_path: Path) -> None:
    state = tmp_path / "var" / "lib" / "transom" / "agent"
    secure_state_dir(state)
    assert state.is_dir() and state.stat().st_mode & 0o777 == 0o700


def test_a_private_directory_with_private_files_passes(tmp_path: Path) -> None:
    state = tmp_path / "agent"
    secure_state_dir(state)
    (state / "assignments").mkdir(mode=0o700)
    (state / "assignments" / "journal.json").write_text("{}")
    (state / "assignments" / "journal.json").chmod(0o600)
    secure_state_dir(state)


@pytest.mark.parametrize(("relative", "mode"), [("", 0o770), ("audit.key", 0o622), ("a", 0o707)])
def test_anything_writable_by_others_is_refused(tmp_path: Path, relative: str, mode: int) -> None:
    state = tmp_path / "agent"
    secure_state_dir(state)
    target = state / relative if relative else state
    if relative == "a":
        target.mkdir()
    elif relative:
        target.write_text("x")
    target.chmod(mode)
    with pytest.raises(StateDirError) as caught:
        secure_state_dir(state)
    assert str(target) in str(caught.value) and "chmod -R go-w" in str(caught.value)


@pytest.mark.skipif(os.name == "posix" and os.geteuid() != 0, reason="chown needs root")
def test_a_file_owned_by_another_account_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "agent"
    secure_state_dir(state)
    planted = state / "planted.json"
    planted.write_text("{}")
    planted.chmod(0o600)
    os.chown(planted, 4242, 4242)
    with pytest.raises(StateDirError, match="is owned by uid 4242"):
        secure_state_dir(state)
