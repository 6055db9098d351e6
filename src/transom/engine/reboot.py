"""Reboots: record that a change needs one, reboot when the policy allows, resume after.

The journal carries the pending reboot and the boot it was requested in; a different boot id on
start means the reboot happened, so the agent re-applies the journal's desired state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, time
from enum import StrEnum
from typing import Protocol

from transom.api.conditions import now_rfc3339
from transom.api.configuration import RebootMode, RebootPolicy
from transom.engine.journal import Journal, JournalEntry, PendingReboot
from transom.engine.result import RunReport

log = logging.getLogger(__name__)


class Rebooter(Protocol):
    """The OS side: which boot this is, and how to reboot (per platform, in providers)."""

    def boot_id(self) -> str: ...

    def reboot(self, reason: str) -> None: ...


class RebootPermit(Protocol):
    """The fleet's reboot budget, as the host sees it: whether it holds a reboot lease."""

    def held(self) -> bool: ...


class RebootDecision(StrEnum):
    NOT_NEEDED = "NotNeeded"
    REBOOTING = "Rebooting"
    WAITING_FOR_WINDOW = "WaitingForWindow"
    #: The Assignment's Configuration has a reboot budget and the controller has not granted
    #: this host a lease yet.
    WAITING_FOR_LEASE = "WaitingForLease"
    NOT_ALLOWED = "NotAllowed"  # policy Never: reported, left to the host's admin


def _parse(hhmm: str) -> time:
    hours, minutes = hhmm.split(":")
    return time(int(hours), int(minutes))


def in_window(policy: RebootPolicy, now: time) -> bool:
    """Whether ``now`` (host local time) is within the policy's window; no window is always."""
    if policy.window_start is None or policy.window_end is None:
        return True
    start, end = _parse(policy.window_start), _parse(policy.window_end)
    if start <= end:
        return start <= now < end
    return now >= start or now < end  # the window spans midnight


class RebootCoordinator:
    def __init__(
        self,
        journal: Journal,
        rebooter: Rebooter,
        now: Callable[[], datetime] = datetime.now,
        permit: RebootPermit | None = None,
    ) -> None:
        self._journal = journal
        self._rebooter = rebooter
        self._now = now
        self._permit = permit

    def after_run(self, report: RunReport, policy: RebootPolicy) -> RebootDecision:
        """Record a reboot the run needs, then reboot if the policy allows it now."""
        needing = tuple(r.name for r in report.results if r.reboot_required)
        if needing:
            self._journal.set_reboot(
                PendingReboot(self._rebooter.boot_id(), needing, now_rfc3339())
            )
        return self.tick(policy)

    def pending(self) -> PendingReboot | None:
        entry = self._journal.load()
        return entry.reboot if entry else None

    def tick(self, policy: RebootPolicy) -> RebootDecision:
        """Reboot for a pending request if the policy allows it now; call periodically so a
        request waiting for its window is served when the window opens."""
        entry = self._journal.load()
        pending = entry.reboot if entry else None
        if entry is None or pending is None:
            return RebootDecision.NOT_NEEDED
        if policy.mode is RebootMode.NEVER:
            return RebootDecision.NOT_ALLOWED
        if not in_window(policy, self._now().time()):
            return RebootDecision.WAITING_FOR_WINDOW
        if self.lease_required(entry) and not (self._permit is not None and self._permit.held()):
            # The status says rebootPending: that is the request the controller grants.
            return RebootDecision.WAITING_FOR_LEASE
        reason = f"transom: {', '.join(pending.resources)} need a reboot"
        log.warning("rebooting: %s", reason)
        self._rebooter.reboot(reason)
        return RebootDecision.REBOOTING

    @staticmethod
    def lease_required(entry: JournalEntry | None) -> bool:
        return entry is not None and entry.origin is not None and entry.origin.reboot_lease

    def resume(self) -> bool:
        """On start: True when a pending reboot has happened (the boot id changed); the
        request is cleared and the caller re-applies the journal's desired state."""
        pending = self.pending()
        if pending is None or pending.boot_id == self._rebooter.boot_id():
            return False
        self._journal.set_reboot(None)
        return True
