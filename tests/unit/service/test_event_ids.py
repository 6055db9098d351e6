"""Every Event Log ID has its text in the message file Transom builds, and docs/audit.md
documents each one."""

from __future__ import annotations

import re
from pathlib import Path

from transom.engine.audit.sinks import EVENT_TITLES, EventId, message_table


def test_every_event_id_has_a_title_and_one_message() -> None:
    assert set(EVENT_TITLES) == set(EventId)
    table = message_table()
    ids = [int(m) for m in re.findall(r"^MessageId=(\d+)$", table, re.MULTILINE)]
    assert sorted(ids) == sorted(int(e) for e in EventId)
    # Severity Success, facility 0: the message number is the event ID ReportEvent is given.
    assert table.count("Severity=Success") == len(EventId)
    for event_id, title in EVENT_TITLES.items():
        assert f"MessageId={int(event_id)}\n" in table
        assert f"{title}%n%n%1\n.\n" in table


def test_docs_list_every_event_id(repo_root: Path) -> None:
    docs = (repo_root / "docs" / "audit.md").read_text()
    documented = {int(m) for m in re.findall(r"^\| (\d{4}) \|", docs, re.MULTILINE)}
    assert documented == {int(e) for e in EventId}
