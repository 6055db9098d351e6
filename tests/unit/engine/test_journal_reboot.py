"""The journal survives restarts; reboots follow the policy and resume after the reboot."""

from __future__ import annotations

import json
import stat
from datetime import datetime, time
from pathlib import Path

import pytest

from transom.api.assignment import AssignmentSource
from transom.api.configuration import Mode, RebootMode, RebootPolicy, RemovalPolicy
from transom.engine.journal import AssignmentOrigin, Journal, JournalFormatError
from transom.engine.reboot import RebootCoordinator, RebootDecision, in_window
from transom.engine.result import Action, ResourceOutcome, RunReport, Status

from .helpers import doc, file, posix_engine

SECRET_REF = {"secretKeyRef": {"name": "db", "key": "password"}}
ORIGIN = AssignmentOrigin(
    uid="u-1",
    generation=3,
    removal_policy=RemovalPolicy.DELETE,
    source=AssignmentSource.model_validate(
        {"configuration": {"namespace": "default", "name": "web"}, "generation": 7}
    ),
)


@pytest.mark.posix_only("posix file modes (on Windows the state directory's ACL protects it)")
def test_journal_survives_restart_and_lets_the_agent_run_offline(tmp_path: Path) -> None:
    resources = doc(
        file("conf", tmp_path / "app.conf", content="v2"),
        {"name": "pw", "file": {"path": str(tmp_path / "pw"), "contentFrom": SECRET_REF}},
    )
    Journal(tmp_path / "state").record(
        resources,
        Mode.APPLY_AND_MONITOR,
        RebootPolicy(mode=RebootMode.IF_NEEDED),
        origin=ORIGIN,
    )
    # A new process: only the state directory is shared.
    entry = Journal(tmp_path / "state").load()
    assert entry is not None
    assert entry.resources == tuple(resources)
    assert entry.mode is Mode.APPLY_AND_MONITOR
    assert entry.reboot_policy.mode.value == "IfNeeded"
    assert entry.origin == ORIGIN and entry.completed
    journal_file = tmp_path / "state" / "journal.json"
    assert stat.S_IMODE(journal_file.stat().st_mode) == 0o600
    report = posix_engine().apply(entry.resources[:1])
    assert report.in_desired_state and (tmp_path / "app.conf").read_text() == "v2"


def test_journal_is_empty_before_the_first_record(tmp_path: Path) -> None:
    assert Journal(tmp_path).load() is None
    with pytest.raises(ValueError, match="no desired state recorded"):
        Journal(tmp_path).set_reboot(None)


#: A journal as format 1 wrote it (the agent before the typed record): a host upgraded in
#: place must keep its desired state, where it came from, and whether its run finished.
V1_JOURNAL = {
    "version": 1,
    "resources": [{"name": "a", "file": {"path": "/srv/a", "content": "x"}}],
    "mode": "ApplyAndMonitor",
    "rebootPolicy": {"mode": "IfNeeded"},
    "source": {
        "configuration": {"namespace": "default", "name": "web"},
        "generation": 7,
        "revision": "main@sha1:abc",
        "uid": "u-1",
        "assignmentGeneration": 3,
        "removalPolicy": "Delete",
        "completed": False,
    },
    "appliedAt": "2026-11-30T10:00:00Z",
    "reboot": {"bootId": "b1", "resources": ["a"], "requestedAt": "2026-11-30T10:00:01Z"},
}


def test_format_1_journal_is_read_and_rewritten_as_format_2(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.path.write_text(json.dumps(V1_JOURNAL), encoding="utf-8")
    entry = journal.load()
    assert entry is not None
    assert entry.origin is not None
    assert (entry.origin.uid, entry.origin.generation) == ("u-1", 3)
    assert entry.origin.removal_policy is RemovalPolicy.DELETE
    assert entry.origin.source.configuration.name == "web"
    assert (entry.origin.source.generation, entry.origin.source.revision) == (7, "main@sha1:abc")
    assert not entry.completed  # interrupted before the upgrade: the run is done again
    assert entry.reboot is not None and entry.reboot.boot_id == "b1"
    assert entry.mode is Mode.APPLY_AND_MONITOR
    # The next write is format 2 and keeps the pending reboot.
    journal.set_reboot(entry.reboot)
    assert json.loads(journal.path.read_text())["version"] == 2
    assert journal.load() == entry


def test_format_1_journal_of_transom_apply_keeps_the_file(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    raw = {**V1_JOURNAL, "source": {"file": "/etc/transom/site.yaml"}}
    journal.path.write_text(json.dumps(raw), encoding="utf-8")
    entry = journal.load()
    assert entry is not None
    assert entry.origin is None and entry.file == "/etc/transom/site.yaml" and entry.completed


def test_unknown_journal_version_is_a_clear_error(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.path.write_text(json.dumps({**V1_JOURNAL, "version": 9}), encoding="utf-8")
    with pytest.raises(JournalFormatError, match="version is 9"):
        journal.load()


def test_failed_journal_write_keeps_the_previous_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = Journal(tmp_path)
    journal.record(doc(file("a", "/a")), Mode.APPLY_ONLY)

    def crash(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("os.fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        journal.record(doc(file("b", "/b")), Mode.APPLY_ONLY)
    monkeypatch.undo()
    entry = journal.load()
    assert entry is not None and [r.name for r in entry.resources] == ["a"]
    assert [p.name for p in tmp_path.iterdir()] == ["journal.json"]


@pytest.mark.parametrize(
    ("start", "end", "now", "inside"),
    [
        ("02:00", "04:00", time(3, 0), True),
        ("02:00", "04:00", time(4, 0), False),
        ("02:00", "04:00", time(1, 59), False),
        ("23:00", "01:00", time(23, 30), True),
        ("23:00", "01:00", time(0, 30), True),
        ("23:00", "01:00", time(12, 0), False),
    ],
)
def test_reboot_window(start: str, end: str, now: time, inside: bool) -> None:
    assert in_window(RebootPolicy(window_start=start, window_end=end), now) is inside


class FakeRebooter:
    def __init__(self) -> None:
        self.boot = "boot-1"
        self.reboots: list[str] = []

    def boot_id(self) -> str:
        return self.boot

    def reboot(self, reason: str) -> None:
        self.reboots.append(reason)


def _needs_reboot() -> RunReport:
    outcome = ResourceOutcome(
        "feature",
        "WindowsFeature",
        Status.REBOOT_PENDING,
        False,
        changed=True,
        reboot_required=True,
    )
    return RunReport(Action.APPLY, (outcome,), 1.0)


def _coordinator(
    tmp_path: Path, at: str, rebooter: FakeRebooter | None = None
) -> tuple[RebootCoordinator, FakeRebooter, Journal]:
    journal = Journal(tmp_path)
    if journal.load() is None:
        journal.record(doc(file("a", "/a")), Mode.APPLY_AND_AUTO_CORRECT)
    rebooter = rebooter or FakeRebooter()
    now = datetime.fromisoformat(f"2026-01-01T{at}")
    return RebootCoordinator(journal, rebooter, now=lambda: now), rebooter, journal


def test_never_policy_records_but_does_not_reboot(tmp_path: Path) -> None:
    coordinator, rebooter, _ = _coordinator(tmp_path, "03:00")
    decision = coordinator.after_run(_needs_reboot(), RebootPolicy())
    assert decision is RebootDecision.NOT_ALLOWED
    assert rebooter.reboots == []
    pending = coordinator.pending()
    assert pending is not None and pending.resources == ("feature",)


def test_if_needed_waits_for_the_window_then_reboots_and_resumes(tmp_path: Path) -> None:
    policy = RebootPolicy(mode=RebootMode.IF_NEEDED, window_start="02:00", window_end="04:00")
    coordinator, rebooter, journal = _coordinator(tmp_path, "12:00")
    assert coordinator.after_run(_needs_reboot(), policy) is RebootDecision.WAITING_FOR_WINDOW
    assert rebooter.reboots == []
    # The agent restarts before the window: the request is still pending, same boot.
    later, _, _ = _coordinator(tmp_path, "03:00", rebooter)
    assert not later.resume()
    assert later.tick(policy) is RebootDecision.REBOOTING
    assert rebooter.reboots == ["transom: feature need a reboot"]
    # After the reboot: a new boot id; resume says re-apply, and the request is cleared.
    rebooter.boot = "boot-2"
    assert later.resume()
    assert later.pending() is None
    entry = journal.load()
    assert entry is not None and [r.name for r in entry.resources] == ["a"]


def test_no_reboot_needed(tmp_path: Path) -> None:
    coordinator, rebooter, _ = _coordinator(tmp_path, "03:00")
    empty = RunReport(Action.APPLY, (), 0.0)
    assert (
        coordinator.after_run(empty, RebootPolicy(mode=RebootMode.IF_NEEDED))
        is RebootDecision.NOT_NEEDED
    )
    assert rebooter.reboots == []
