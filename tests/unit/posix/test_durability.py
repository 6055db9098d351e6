"""What a crash can leave of a run's file writes: each file old or new, never torn.

The engine fsyncs each file's data before renaming it over the old file, and each directory
once per run, after its last rename (atomicfile.DirectorySyncs). A power cut cannot be staged
in a test, so the ordering that makes it safe is checked on the real system calls: a rename that
survives a crash names data already on disk, and every rename is durable before the run reports
it, or before an observer (the audit trail) records it. A process crash is staged for real.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.engine.helpers import doc, file, posix_engine
from transom.api.resources import Resource
from transom.engine.provider import State
from transom.engine.result import Status

if not sys.platform.startswith("linux"):
    pytest.skip("Linux only: reads descriptors' paths from /proc/self/fd", allow_module_level=True)

REPO = Path(__file__).parents[3]


class Calls:
    """The fsyncs and renames of a run, in order, as ("fsync-file" | "fsync-dir" | "rename",
    path, target) tuples; the real calls are still made."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.log: list[tuple[str, str, str]] = []
        real_fsync, real_replace = os.fsync, os.replace

        def fsync(fd: int) -> None:
            path = str(Path(f"/proc/self/fd/{fd}").readlink())
            kind = "fsync-dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync-file"
            self.log.append((kind, path, ""))
            real_fsync(fd)

        def rename(src: Any, dst: Any, **kw: Any) -> None:
            self.log.append(("rename", os.fspath(src), os.fspath(dst)))
            real_replace(src, dst, **kw)

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", rename)

    def renames(self) -> Iterator[tuple[int, str, str]]:
        for i, (kind, src, dst) in enumerate(self.log):
            if kind == "rename":
                yield i, src, dst

    def dir_syncs(self, directory: str) -> list[int]:
        return [
            i for i, (kind, p, _) in enumerate(self.log) if kind == "fsync-dir" and p == directory
        ]


def _files(base: Path, layout: list[tuple[int, bool]]) -> list[tuple[Path, bool]]:
    """One file per entry: in directory d<n>, existing beforehand (old content) or not."""
    out = []
    for i, (d, exists) in enumerate(layout):
        folder = base / f"d{d}"
        folder.mkdir(exist_ok=True)
        path = folder / f"f{i}.conf"
        if exists:
            path.write_text(f"old {i}\n")
        out.append((path, exists))
    return out


LAYOUTS = st.lists(st.tuples(st.integers(0, 3), st.booleans()), min_size=1, max_size=12)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(layout=LAYOUTS)
def test_every_rename_names_synced_data_and_is_synced_once_per_directory(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, layout: Any
) -> None:
    base = tmp_path_factory.mktemp("run")
    files = _files(base, layout)
    engine = posix_engine()
    resources = doc(*(file(f"f{i}", p, content=f"new {i}\n") for i, (p, _) in enumerate(files)))
    with monkeypatch.context() as m:
        calls = Calls(m)
        report = engine.apply(resources)
    assert report.in_desired_state and report.changed
    renamed_into: dict[str, int] = {}
    for i, src, dst in calls.renames():
        # The temp file's data (and mode) reached the disk before its name could replace the
        # old file's: a rename that survives a crash never names a torn file.
        assert ("fsync-file", src, "") in calls.log[:i], f"{dst} renamed before its data synced"
        renamed_into[str(Path(dst).parent)] = i
    assert sorted(renamed_into) == sorted({str(p.parent) for p, _ in files})
    for directory, last in renamed_into.items():
        syncs = calls.dir_syncs(directory)
        # Durable before the run returned, and with one fsync per directory, not per file.
        assert len(syncs) == 1 and syncs[0] > last, (directory, calls.log)
    for i, (path, _) in enumerate(files):
        assert path.read_text() == f"new {i}\n"


class Recorder:
    """An observer (as the audit trail): records which directories were synced when each
    change was recorded."""

    def __init__(self, calls: Calls) -> None:
        self.calls = calls
        self.unsynced_at_record: list[str] = []

    def before_set(self, resource: Resource, before: State, desired: State, *, drift: bool) -> Any:
        return None

    def after_set(self, token: Any, resource: Resource, after: State | None, **kw: Any) -> None:
        path = resource.properties.identity().partition(":")[2]
        last_rename = max(i for i, _, dst in self.calls.renames() if dst == path)
        if not any(i > last_rename for i in self.calls.dir_syncs(str(Path(path).parent))):
            self.unsynced_at_record.append(path)


def test_a_change_is_durable_before_the_observer_records_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _files(tmp_path, [(0, True), (0, False), (1, True)])
    with monkeypatch.context() as m:
        calls = Calls(m)
        recorder = Recorder(calls)
        report = posix_engine(observer=recorder).apply(
            doc(*(file(f"f{i}", p, content="new\n") for i, (p, _) in enumerate(files)))
        )
    assert report.in_desired_state
    assert recorder.unsynced_at_record == []


def test_a_failed_directory_sync_fails_the_changes_it_leaves_undurable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (path, _), (kept, _) = _files(tmp_path, [(0, True), (1, True)])
    kept.write_text("new\n")  # already in its desired state: not changed, not failed
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(5, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    report = posix_engine().apply(
        doc(file("a", path, content="new\n"), file("b", kept, content="new\n"))
    )
    changed, unchanged = report.results
    assert changed.status is Status.FAILED and not changed.in_desired_state
    assert f"not made durable: fsync of {path.parent}: Input/output error" in changed.message
    assert unchanged.status is Status.OK
    assert report.failed


_CRASH = """
import os, sys
from pathlib import Path
from tests.unit.engine.helpers import doc, file, posix_engine

where, at = sys.argv[1], int(sys.argv[2])
paths = [Path(p) for p in sys.argv[3:]]
count = 0
real_replace, real_fsync = os.replace, os.fsync

def rename(src, dst, **kw):
    global count
    count += 1
    if where == "rename" and count == at:
        os._exit(9)  # dies before this rename
    real_replace(src, dst, **kw)

def fsync(fd):
    if where == "dir-sync" and os.path.isdir(os.readlink(f"/proc/self/fd/{fd}")):
        os._exit(9)  # dies after every rename, before the directory is synced
    real_fsync(fd)

os.replace, os.fsync = rename, fsync
posix_engine().apply(doc(*(file(p.stem, p, content=f"new {p.stem}\\n" * 200) for p in paths)))
"""


@pytest.mark.parametrize(
    ("where", "at"), [("rename", 1), ("rename", 13), ("rename", 30), ("dir-sync", 0)]
)
def test_a_process_crash_mid_run_leaves_every_file_old_or_new(
    tmp_path: Path, where: str, at: int
) -> None:
    paths = [p for p, _ in _files(tmp_path, [(i % 3, True) for i in range(30)])]
    done = subprocess.run(
        [sys.executable, "-c", _CRASH, where, str(at), *map(str, paths)], cwd=REPO, check=False
    )
    assert done.returncode == 9
    new = [p.read_text() == f"new {p.stem}\n" * 200 for p in paths]
    old = [p.read_text() == f"old {p.stem[1:]}\n" for p in paths]
    assert all(n or o for n, o in zip(new, old, strict=True)), "a file is neither old nor new"
    # Renames go in document order: those before the crash are in place, the rest untouched.
    expected = len(paths) if where == "dir-sync" else at - 1
    assert new == [i < expected for i in range(len(paths))]
    # The next run converges the rest.
    report = posix_engine().apply(
        doc(*(file(p.stem, p, content=f"new {p.stem}\n" * 200) for p in paths))
    )
    assert report.in_desired_state
