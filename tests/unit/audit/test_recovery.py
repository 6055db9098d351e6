"""A crash between the OS change and the audit write: the restarted agent accounts for it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from transom.engine.audit import (
    AuditAction,
    AuditLog,
    AuditResult,
    AuditTrail,
    InMemoryEventLog,
    digest_state,
    verify,
)

from .helpers import SOURCE

AGENT = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from transom.engine.audit import AuditLog, AuditTrail, ChangeSource

    log_dir, target, phase = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    source = ChangeSource("web-1", "transom:host:web-1", "apps/web", 3, "main@sha1:abc")
    trail = AuditTrail(AuditLog(log_dir))
    before = {"content": target.read_text()}
    intent = trail.begin(source, "motd", "File", before=before, desired={"content": "new"})
    if phase == "before-change":
        os._exit(9)
    target.write_text("new")  # the OS change
    if phase == "torn-completion":
        # Killed halfway through writing the completion record.
        with trail.log.segment_path.open("ab") as f:
            f.write(b'{"action":"set","after":"sha')
    os._exit(9)
    """
)


def crash(tmp_path: Path, phase: str) -> tuple[Path, Path]:
    log_dir, target = tmp_path / "audit", tmp_path / "motd"
    target.write_text("old")
    done = subprocess.run(
        [sys.executable, "-c", AGENT, str(log_dir), str(target), phase], check=False
    )
    assert done.returncode == 9
    return log_dir, target


@pytest.mark.parametrize("phase", ["after-change", "torn-completion"])
def test_change_made_but_not_recorded_is_recovered(tmp_path: Path, phase: str) -> None:
    log_dir, target = crash(tmp_path, phase)
    assert target.read_text() == "new"

    events = InMemoryEventLog()
    trail = AuditTrail(AuditLog(log_dir), event_log=events)
    trail.record_log_repair(SOURCE)
    [intent] = trail.pending()
    assert (intent.resource, intent.type, intent.planned) == ("motd", "File", "set")

    recovered = trail.recover(intent, {"content": target.read_text()})
    assert recovered.action is AuditAction.RECOVERED
    assert recovered.result is AuditResult.SUCCEEDED
    assert recovered.intent == intent.seq
    assert recovered.before == digest_state({"content": "old"})
    assert recovered.after == digest_state({"content": "new"})
    assert (recovered.configuration, recovered.revision) == ("apps/web", "main@sha1:abc")
    assert 1006 in [e.event_id for e in events.events]

    assert trail.pending() == []
    assert AuditLog(log_dir).open_intents() == []
    assert verify(log_dir).ok


def test_crash_before_the_change_is_recorded_as_not_applied(tmp_path: Path) -> None:
    log_dir, target = crash(tmp_path, "before-change")
    trail = AuditTrail(AuditLog(log_dir))
    [intent] = trail.pending()
    recovered = trail.recover(intent, {"content": target.read_text()})
    assert recovered.result is AuditResult.NOT_APPLIED


def test_state_matching_neither_is_unknown(tmp_path: Path) -> None:
    trail = AuditTrail(AuditLog(tmp_path))
    intent = trail.begin(SOURCE, "motd", "File", before={"c": 1}, desired={"c": 2})
    assert trail.recover(intent, {"c": 3}).result is AuditResult.UNKNOWN


def test_reboot_intent_completes_after_the_reboot(tmp_path: Path) -> None:
    trail = AuditTrail(AuditLog(tmp_path))
    trail.begin(
        SOURCE, "web-1", "Reboot", action=AuditAction.REBOOT, before={"bootId": "a"}, desired=None
    )
    # ...the machine reboots; the agent starts again:
    trail = AuditTrail(AuditLog(tmp_path))
    [intent] = trail.pending()
    assert intent.planned == AuditAction.REBOOT
    done = trail.complete(intent, after={"bootId": "b"}, reboot=True)
    assert done.action is AuditAction.REBOOT and done.reboot
    assert trail.pending() == []
    assert verify(tmp_path).ok


def test_completion_of_a_non_intent_is_refused(tmp_path: Path) -> None:
    trail = AuditTrail(AuditLog(tmp_path))
    record = trail.record(SOURCE, "x", "File", AuditAction.DRIFT_DETECTED)
    with pytest.raises(ValueError, match="not an intent"):
        trail.complete(record, after=None)
