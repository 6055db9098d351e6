"""The journal: the last desired state the agent applied, kept on disk.

It lets the agent restart, or run offline, on what it last received, and carries a pending
reboot across the reboot. One JSON file, replaced atomically; Secret references are stored,
never Secret values.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from transom.api.conditions import now_rfc3339
from transom.api.configuration import Mode, RebootPolicy
from transom.api.resources import Resource, parse_resources
from transom.engine.atomicfile import write_atomic

JOURNAL_FILE = "journal.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class PendingReboot:
    """A change that waits for a reboot, and the boot it was made in."""

    boot_id: str
    resources: tuple[str, ...]
    requested_at: str


@dataclass(frozen=True)
class JournalEntry:
    resources: tuple[Resource, ...]
    mode: Mode = Mode.APPLY_AND_AUTO_CORRECT
    reboot_policy: RebootPolicy = field(default_factory=RebootPolicy)
    #: Where the desired state came from (configuration, generation, revision), as given.
    source: dict[str, Any] = field(default_factory=dict)
    applied_at: str = ""
    reboot: PendingReboot | None = None


class Journal:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / JOURNAL_FILE

    def load(self) -> JournalEntry | None:
        """The last entry, or None when nothing was ever recorded."""
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        reboot = raw.get("reboot")
        return JournalEntry(
            resources=tuple(parse_resources(raw["resources"])),
            mode=Mode(raw["mode"]),
            reboot_policy=RebootPolicy.model_validate(raw["rebootPolicy"]),
            source=raw.get("source", {}),
            applied_at=raw.get("appliedAt", ""),
            reboot=None
            if reboot is None
            else PendingReboot(reboot["bootId"], tuple(reboot["resources"]), reboot["requestedAt"]),
        )

    def record(
        self,
        resources: Sequence[Resource],
        mode: Mode,
        reboot_policy: RebootPolicy | None = None,
        source: dict[str, Any] | None = None,
    ) -> JournalEntry:
        """Record a desired state as applied, keeping a pending reboot."""
        previous = self.load()
        entry = JournalEntry(
            resources=tuple(resources),
            mode=mode,
            reboot_policy=reboot_policy or RebootPolicy(),
            source=source or {},
            applied_at=now_rfc3339(),
            reboot=previous.reboot if previous else None,
        )
        self._write(entry)
        return entry

    def set_reboot(self, reboot: PendingReboot | None) -> None:
        entry = self.load()
        if entry is None:
            raise ValueError("no desired state recorded; record one before a reboot")
        self._write(replace(entry, reboot=reboot))

    def _write(self, entry: JournalEntry) -> None:
        raw: dict[str, Any] = {
            "version": FORMAT_VERSION,
            "resources": [r.to_wire() for r in entry.resources],
            "mode": entry.mode.value,
            "rebootPolicy": entry.reboot_policy.model_dump(mode="json", by_alias=True),
            "source": entry.source,
            "appliedAt": entry.applied_at,
            "reboot": None
            if entry.reboot is None
            else {
                "bootId": entry.reboot.boot_id,
                "resources": list(entry.reboot.resources),
                "requestedAt": entry.reboot.requested_at,
            },
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Only the host's admin reads it: it names every managed path and Secret reference.
        write_atomic(
            str(self.path),
            json.dumps(raw, indent=1, sort_keys=True).encode(),
            prepare=_owner_only,
        )


def _owner_only(fd: int) -> None:
    if os.name == "posix":
        os.fchmod(fd, 0o600)
