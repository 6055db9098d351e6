"""posix File and Directory: content sources, permissions, atomic writes."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.engine.helpers import directory, doc, file, posix_engine
from transom.api.conditions import CHECKSUM_MISMATCH
from transom.engine.atomicfile import TEMP_PREFIX, write_atomic
from transom.engine.result import Status

if sys.platform == "win32":
    pytest.skip(
        "posix only: posix file modes, owners and the posix File provider", allow_module_level=True
    )

ROOT = os.geteuid() == 0


def test_crash_between_temp_write_and_rename_leaves_the_old_file(tmp_path: Path) -> None:
    """A real crash: the child process dies inside set(), after the temp file is written."""
    target = tmp_path / "app.conf"
    target.write_text("old content\n")
    script = f"""
import os
from transom.engine import atomicfile
from tests.unit.engine.helpers import doc, file, posix_engine

def die(self, target):
    os._exit(9)
atomicfile.Path.replace = die
posix_engine().apply(doc(file("f", {str(target)!r}, content="new content\\n" * 1000)))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=Path(__file__).parents[3], check=False
    )
    assert done.returncode == 9
    assert target.read_text() == "old content\n"
    # The orphaned temp file is the only trace, and it never had the target's name.
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "app.conf"]
    assert len(leftovers) == 1 and leftovers[0].startswith(TEMP_PREFIX)
    # The next run converges as usual and is not confused by the leftover.
    report = posix_engine().apply(doc(file("f", target, content="new content\n")))
    assert report.in_desired_state and target.read_text() == "new content\n"


def test_failed_write_removes_its_temp_file_and_keeps_the_old(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"old")

    def fail(fd: int) -> None:
        raise OSError("EIO")

    with pytest.raises(OSError, match="EIO"):
        write_atomic(str(target), b"new", prepare=fail)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_mode_is_set_before_the_file_appears(tmp_path: Path) -> None:
    target = tmp_path / "key"
    posix_engine().apply(doc(file("k", target, content="private", mode="0600")))
    assert oct(target.stat().st_mode & 0o777) == "0o600"


def test_mode_only_drift_changes_mode_not_content(tmp_path: Path) -> None:
    target = tmp_path / "f"
    engine = posix_engine()
    resources = doc(file("f", target, content="same", mode="0640"))
    engine.apply(resources)
    inode = target.stat().st_ino
    target.chmod(0o666)
    report = engine.apply(resources)
    assert [d.prop for d in report.results[0].diff] == ["mode"]
    assert target.stat().st_ino == inode  # chmod, not a rewrite
    assert oct(target.stat().st_mode & 0o777) == "0o640"


def test_unset_properties_are_not_managed(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_text("x")
    target.chmod(0o604)
    report = posix_engine().apply(doc(file("f", target, content="x")))
    assert report.results[0].status is Status.OK
    assert oct(target.stat().st_mode & 0o777) == "0o604"


def test_rewrite_keeps_the_existing_mode_when_none_is_desired(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_text("old")
    target.chmod(0o604)
    posix_engine().apply(doc(file("f", target, content="new")))
    assert oct(target.stat().st_mode & 0o777) == "0o604"


@pytest.mark.skipif(not ROOT, reason="changing owners needs root")
def test_owner_and_group(tmp_path: Path) -> None:
    target = tmp_path / "f"
    engine = posix_engine()
    resources = doc(file("f", target, content="x", owner="nobody", group="nogroup"))
    assert engine.apply(resources).in_desired_state
    import pwd

    assert target.stat().st_uid == pwd.getpwnam("nobody").pw_uid
    os.chown(target, 0, 0)
    report = engine.apply(resources)
    assert {d.prop for d in report.results[0].diff} == {"owner", "group"}
    assert not engine.apply(resources).changed


def test_absent_file_is_removed_and_a_link_is_removed_not_its_target(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_text("keep")
    link = tmp_path / "link"
    link.symlink_to(target)
    posix_engine().apply(doc({"name": "l", "file": {"path": str(link), "ensure": "absent"}}))
    assert not link.is_symlink() and target.read_text() == "keep"


def test_write_goes_through_a_link_to_its_file(tmp_path: Path) -> None:
    target = tmp_path / "real.conf"
    target.write_text("old")
    link = tmp_path / "conf"
    link.symlink_to(target)
    posix_engine().apply(doc(file("c", link, content="new")))
    assert link.is_symlink() and target.read_text() == "new"


def test_a_directory_where_a_file_should_be_fails(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    report = posix_engine().apply(doc(file("f", tmp_path / "d")))
    assert report.results[0].status is Status.FAILED
    assert "not a regular file" in report.results[0].message


def test_directory_create_mode_and_delete(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b"
    engine = posix_engine()
    assert engine.apply(doc(directory("d", path, mode="0700"))).in_desired_state
    assert oct(path.stat().st_mode & 0o777) == "0o700"
    (path / "inside").write_text("x")
    absent = {"name": "d", "directory": {"path": str(path), "ensure": "absent"}}
    report = engine.apply(doc(absent))
    assert report.results[0].status is Status.FAILED
    assert "recurseDelete" in report.results[0].message
    assert path.exists()
    absent["directory"]["recurseDelete"] = True  # type: ignore[index]
    assert engine.apply(doc(absent)).in_desired_state
    assert not path.exists()


def test_file_from_url_checked_by_sha256(tmp_path: Path, web: tuple[str, Path]) -> None:
    url, served = web
    (served / "tool.bin").write_bytes(b"\x00binary\x01" * 100)
    digest = hashlib.sha256((served / "tool.bin").read_bytes()).hexdigest()
    target = tmp_path / "tool.bin"
    resources = doc(
        {
            "name": "t",
            "file": {"path": str(target), "source": {"url": f"{url}/tool.bin", "sha256": digest}},
        }
    )
    engine = posix_engine()
    assert engine.apply(resources).changed
    assert target.read_bytes() == (served / "tool.bin").read_bytes()
    assert not engine.apply(resources).changed
    target.write_bytes(b"tampered")
    report = engine.test(resources)
    assert report.results[0].diff[0].actual["sha256"] == hashlib.sha256(b"tampered").hexdigest()


def test_url_with_wrong_sha256_never_lands(tmp_path: Path, web: tuple[str, Path]) -> None:
    url, served = web
    (served / "tool.bin").write_bytes(b"evil")
    target = tmp_path / "tool.bin"
    target.write_bytes(b"good")
    resources = doc(
        {
            "name": "t",
            "file": {"path": str(target), "source": {"url": f"{url}/tool.bin", "sha256": "a" * 64}},
        }
    )
    report = posix_engine().apply(resources)
    assert report.results[0].reason == CHECKSUM_MISMATCH
    assert target.read_bytes() == b"good"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)] == []


def test_windows_acl_on_posix_fails_instead_of_being_ignored(tmp_path: Path) -> None:
    rule = {"identity": "BUILTIN\\Users", "rights": "Read"}
    report = posix_engine().apply(doc(file("f", tmp_path / "f", acl=[rule])))
    assert report.results[0].status is Status.FAILED
    assert "Windows-only" in report.results[0].message
    assert not (tmp_path / "f").exists()
