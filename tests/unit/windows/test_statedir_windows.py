"""The state directory on Windows: created with a protected DACL, refused when others may
write in it. Simulated ProgramData lets Users create files, as Windows ships it."""

from __future__ import annotations

from pathlib import Path

import pytest

from transom.agent.statedir import StateDirError, secure_state_dir
from transom.providers.windows import facade as f
from transom.providers.windows.simulated import SimulatedFacade

from .conftest import REAL

STATE = "C:\\ProgramData\\Transom\\agent"


def test_created_protected_and_users_cannot_plant_files(sim: SimulatedFacade) -> None:
    secure_state_dir(STATE, sim)  # type: ignore[arg-type]
    assert sim.path_kind(STATE) == "directory"
    assert sim.untrusted_writers(STATE) == []
    assert sim.untrusted_writers("C:\\ProgramData\\Transom") == []
    user = sim.add_account("WIN-SIM\\mallory")
    with pytest.raises(f.WindowsApiError) as caught:
        sim.plant(f"{STATE}\\assignments.json", b"{}", owner=user)
    assert caught.value.winerror == f.ERROR_ACCESS_DENIED
    secure_state_dir(STATE, sim)  # type: ignore[arg-type]


def test_a_folder_inheriting_programdata_is_refused(sim: SimulatedFacade) -> None:
    # What the agent used to do: a plain CreateDirectory, so ProgramData's ACL is inherited.
    sim.dir_create(STATE)
    with pytest.raises(StateDirError) as caught:
        secure_state_dir(STATE, sim)  # type: ignore[arg-type]
    assert "BUILTIN\\Users" in str(caught.value) and "icacls" in str(caught.value)


def test_a_planted_journal_is_refused(sim: SimulatedFacade) -> None:
    # Created before the agent's first start by a local user, who owns what they plant.
    user = sim.add_account("WIN-SIM\\mallory")
    sim.dir_create("C:\\ProgramData\\Transom")
    sim.plant("C:\\ProgramData\\Transom\\seed", b"", owner=user)
    secure_state_dir(STATE, sim)  # type: ignore[arg-type]
    sim.acl_add(STATE, [f.Ace("Users", "Write")])
    with pytest.raises(StateDirError):
        secure_state_dir(STATE, sim)  # type: ignore[arg-type]


def test_a_file_another_account_owns_is_refused(sim: SimulatedFacade) -> None:
    secure_state_dir(STATE, sim)  # type: ignore[arg-type]
    sim.file_write_atomic(f"{STATE}\\journal.json", b"{}")
    user = sim.add_account("WIN-SIM\\mallory")
    sim._files[f"{STATE}\\journal.json".lower()].owner = user
    with pytest.raises(StateDirError, match="owner WIN-SIM\\\\mallory"):
        secure_state_dir(STATE, sim)  # type: ignore[arg-type]


@pytest.mark.skipif(not REAL, reason="the real facade (TRANSOM_FACADE=win32 on Windows)")
@pytest.mark.wine_lacks(
    "file DACLs: Wine 8 reads Administrators back as the user and drops added entries"
)
def test_real_protected_directory(tmp_path: Path) -> None:
    from transom.providers.windows.win32 import Win32Facade

    real = Win32Facade()
    try:
        state = str(tmp_path / "Transom" / "agent")
        secure_state_dir(state, real)  # type: ignore[arg-type]
        assert real.untrusted_writers(state) == []
        real.file_write_atomic(f"{state}\\journal.json", b"{}")
        secure_state_dir(state, real)  # type: ignore[arg-type]
        real.acl_add(state, [f.Ace("Users", "Write")])
        with pytest.raises(StateDirError, match="Users"):
            secure_state_dir(state, real)  # type: ignore[arg-type]
    finally:
        real.close()
