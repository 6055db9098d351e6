"""A guard against accidental per-resource work: a no-op check of 500 files reads each file at
most once and writes, renames and syncs nothing. (How long it takes is measured in bench/, not
asserted here.)"""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.unit.engine.helpers import doc, file, posix_engine

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class _Watch:
    """Counts the file opens and renames the interpreter audits, while switched on."""

    def __init__(self, root: Path) -> None:
        self.root = str(root)
        self.on = False
        self.reads: Counter[str] = Counter()
        self.writes: list[str] = []
        self.renames: list[str] = []

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.on:
            return
        if event == "open" and isinstance(args[0], str) and args[0].startswith(self.root):
            mode, flags = args[1], args[2]
            if (mode and any(c in str(mode) for c in "wax+")) or (flags or 0) & _WRITE_FLAGS:
                self.writes.append(args[0])
            else:
                self.reads[args[0]] += 1
        elif event == "os.rename":
            self.renames.append(str(args[0]))


@pytest.mark.posix_only("posix file modes and the posix File provider")
def test_no_op_check_of_500_files_reads_each_once_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    resources = doc(
        *(
            file(f"f{i}", tmp_path / f"f{i}.conf", content=f"line {i}\n" * 20, mode="0644")
            for i in range(500)
        )
    )
    engine = posix_engine()
    plan = engine.plan(resources)
    assert engine.apply(plan).changed
    watch = _Watch(tmp_path)
    sys.addaudithook(watch)  # audit hooks stay for the process; this one only counts when on
    syncs: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        syncs.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    watch.on = True
    try:
        report = engine.apply(plan)
    finally:
        watch.on = False
    assert not report.changed and report.in_desired_state
    assert watch.writes == [] and watch.renames == [] and syncs == []
    assert set(watch.reads) <= {str(tmp_path / f"f{i}.conf") for i in range(500)}
    assert max(watch.reads.values(), default=1) == 1, watch.reads.most_common(3)
