"""The journal: the last desired state the agent applied, kept on disk.

It lets the agent restart, or run offline, on what it last received, and carries a pending
reboot across the reboot. One JSON file, replaced atomically; Secret references are stored,
never Secret values.

Format 2 keeps where the desired state came from as a typed record (``AssignmentOrigin``);
format 1 kept it as a free-form ``source`` dict, which ``Journal.load`` still reads, so a
host upgraded in place keeps enforcing what it had.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from transom.api.assignment import AssignmentSource
from transom.api.conditions import now_rfc3339
from transom.api.configuration import Mode, RebootPolicy, RemovalPolicy
from transom.api.resources import Resource, parse_resources
from transom.engine.atomicfile import write_atomic

JOURNAL_FILE = "journal.json"
#: The last desired state that was Ready here (probes passed): what a rollback returns to.
READY_FILE = "ready.json"
FORMAT_VERSION = 2


class JournalFormatError(ValueError):
    """The journal file cannot be read: named with the field and what was found."""


@dataclass(frozen=True)
class PendingReboot:
    """A change that waits for a reboot, and the boot it was made in."""

    boot_id: str
    resources: tuple[str, ...]
    requested_at: str


class AssignmentOrigin(BaseModel):
    """The Assignment a desired state came from: which object, which generation of it, what
    to do with its resources when it goes, and the Configuration behind it."""

    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True)

    uid: str
    #: The Assignment's metadata.generation (not the Configuration's: that is in ``source``).
    generation: int = Field(ge=0)
    removal_policy: RemovalPolicy = RemovalPolicy.ORPHAN
    source: AssignmentSource
    #: Reboot only holding the controller's reboot lease (the Configuration's budget).
    reboot_lease: bool = False


@dataclass(frozen=True)
class JournalEntry:
    resources: tuple[Resource, ...]
    mode: Mode = Mode.APPLY_AND_AUTO_CORRECT
    reboot_policy: RebootPolicy = field(default_factory=RebootPolicy)
    #: The Assignment it came from; None for a document applied with ``transom apply``.
    origin: AssignmentOrigin | None = None
    #: The document applied with ``transom apply --state-dir``, when that is where it came from.
    file: str = ""
    #: False from the start of a run until it finished: a crash in between means a re-run.
    completed: bool = True
    applied_at: str = ""
    reboot: PendingReboot | None = None
    #: After a rollback: ``origin`` is the generation that failed (so it is not run again),
    #: ``resources`` are those of this earlier generation, which the host enforces.
    rolled_back_to: AssignmentOrigin | None = None


class Journal:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / JOURNAL_FILE
        self.ready_path = state_dir / READY_FILE

    def load(self) -> JournalEntry | None:
        """The last entry, or None when nothing was ever recorded."""
        return self._read(self.path)

    def last_ready(self) -> JournalEntry | None:
        """The last desired state that was Ready on this host, or None."""
        return self._read(self.ready_path)

    def mark_ready(self) -> JournalEntry | None:
        """Keep the current desired state as the last Ready one (a finished run only)."""
        entry = self.load()
        if entry is None or not entry.completed or entry.rolled_back_to is not None:
            return None
        self._write(entry, self.ready_path)
        return entry

    def _read(self, path: Path) -> JournalEntry | None:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        try:
            return _entry(raw)
        except (KeyError, TypeError, ValueError, ValidationError) as exc:
            raise JournalFormatError(f"{path}: not a journal this agent can read: {exc}") from None

    def record(
        self,
        resources: Sequence[Resource],
        mode: Mode,
        reboot_policy: RebootPolicy | None = None,
        *,
        origin: AssignmentOrigin | None = None,
        file: str = "",
        completed: bool = True,
        rolled_back_to: AssignmentOrigin | None = None,
    ) -> JournalEntry:
        """Record a desired state (as applied, unless ``completed`` is False), keeping a
        pending reboot."""
        previous = self.load()
        entry = JournalEntry(
            resources=tuple(resources),
            mode=mode,
            reboot_policy=reboot_policy or RebootPolicy(),
            origin=origin,
            file=file,
            completed=completed,
            applied_at=now_rfc3339(),
            reboot=previous.reboot if previous else None,
            rolled_back_to=rolled_back_to,
        )
        self._write(entry)
        return entry

    def set_reboot(self, reboot: PendingReboot | None) -> None:
        entry = self.load()
        if entry is None:
            raise ValueError("no desired state recorded; record one before a reboot")
        self._write(replace(entry, reboot=reboot))

    def _write(self, entry: JournalEntry, path: Path | None = None) -> None:
        path = path or self.path
        raw: dict[str, Any] = {
            "version": FORMAT_VERSION,
            "resources": [r.to_wire() for r in entry.resources],
            "mode": entry.mode.value,
            "rebootPolicy": entry.reboot_policy.model_dump(mode="json", by_alias=True),
            "origin": _origin(entry.origin),
            "file": entry.file,
            "completed": entry.completed,
            "appliedAt": entry.applied_at,
            "reboot": None
            if entry.reboot is None
            else {
                "bootId": entry.reboot.boot_id,
                "resources": list(entry.reboot.resources),
                "requestedAt": entry.reboot.requested_at,
            },
            "rolledBackTo": _origin(entry.rolled_back_to),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        # Only the host's admin reads it: it names every managed path and Secret reference.
        write_atomic(
            str(path),
            json.dumps(raw, indent=1, sort_keys=True).encode(),
            prepare=_owner_only,
        )


def _origin(origin: AssignmentOrigin | None) -> dict[str, Any] | None:
    return (
        None if origin is None else origin.model_dump(mode="json", by_alias=True, exclude_none=True)
    )


def _entry(raw: Mapping[str, Any]) -> JournalEntry:
    version = raw.get("version", 1)
    if version == 1:
        origin, file, completed = _from_v1_source(raw.get("source") or {})
    elif version == FORMAT_VERSION:
        origin_raw = raw.get("origin")
        origin = None if origin_raw is None else AssignmentOrigin.model_validate(origin_raw)
        file, completed = str(raw.get("file", "")), bool(raw.get("completed", True))
    else:
        raise ValueError(f"version is {version!r}; this agent reads versions 1 and 2")
    reboot = raw.get("reboot")
    back = raw.get("rolledBackTo")
    return JournalEntry(
        resources=tuple(parse_resources(raw["resources"])),
        mode=Mode(raw["mode"]),
        reboot_policy=RebootPolicy.model_validate(raw["rebootPolicy"]),
        origin=origin,
        file=file,
        completed=completed,
        applied_at=raw.get("appliedAt", ""),
        reboot=None
        if reboot is None
        else PendingReboot(reboot["bootId"], tuple(reboot["resources"]), reboot["requestedAt"]),
        rolled_back_to=None if back is None else AssignmentOrigin.model_validate(back),
    )


def _from_v1_source(source: Mapping[str, Any]) -> tuple[AssignmentOrigin | None, str, bool]:
    """Format 1 kept the Assignment's source fields, plus ``uid``, ``assignmentGeneration``,
    ``removalPolicy`` and ``completed``, in one dict; ``transom apply`` wrote ``file``."""
    if "uid" not in source:
        return None, str(source.get("file", "")), bool(source.get("completed", True))
    origin = AssignmentOrigin(
        uid=str(source["uid"]),
        generation=int(source.get("assignmentGeneration", 0)),
        removal_policy=RemovalPolicy(source.get("removalPolicy", RemovalPolicy.ORPHAN.value)),
        source=AssignmentSource.model_validate(
            {
                k: source[k]
                for k in ("configuration", "generation", "revision", "kustomization")
                if k in source
            }
        ),
    )
    return origin, "", bool(source.get("completed", False))


def _owner_only(fd: int) -> None:
    if os.name == "posix":
        os.fchmod(fd, 0o600)
