"""The drift monitor: OS change notifications for seconds-fast detection, plus a periodic full
check for anything notifications miss.

Notifications come through a Notifier: inotify on Linux (providers/posix), and on Windows
ReadDirectoryChangesW / RegNotifyChangeKeyValue / NotifyServiceStatusChange behind the
windows facade. The monitor runs on its own thread; each check goes through Engine.check, so
the mode decides whether drift is corrected or only reported.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Sequence
from typing import Protocol

from transom.api.configuration import Mode
from transom.api.resources import Resource
from transom.engine.converge import Engine, Plan
from transom.engine.provider import WatchTarget
from transom.engine.result import RunReport

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_SECONDS = 300.0
#: Events within this long after the first are handled in one check (an editor's save is
#: several events; a correction's own write should not start a second round).
DEFAULT_SETTLE_SECONDS = 0.02
#: How often the monitor thread looks at its stop flag while nothing happens.
_WAKE_SECONDS = 0.25


class Notifier(Protocol):
    """OS change notifications for a set of WatchTargets."""

    def watch(self, targets: Collection[WatchTarget]) -> None:
        """Watch exactly these targets from now on (called again after every check, so a
        watch lost with a deleted directory is re-armed)."""

    def wait(self, timeout: float) -> set[WatchTarget]:
        """Block until some watched targets change or ``timeout`` passes; return those that
        changed (empty on timeout)."""

    def close(self) -> None:
        """Release OS handles; wait() returns nothing afterwards."""


class DriftMonitor:
    """Watches a plan's resources; each check's report goes to ``on_report``.

    ApplyOnly means no monitoring: start() does nothing then.
    """

    def __init__(
        self,
        engine: Engine,
        resources: Sequence[Resource] | Plan,
        mode: Mode,
        on_report: Callable[[RunReport], None],
        *,
        notifier: Notifier | None = None,
        interval: float = DEFAULT_INTERVAL_SECONDS,
        settle: float = DEFAULT_SETTLE_SECONDS,
    ) -> None:
        self.engine = engine
        self.plan = engine.plan(resources)
        self.mode = mode
        self.on_report = on_report
        self.notifier = notifier
        self.interval = interval
        self.settle = settle
        self._watchers: dict[WatchTarget, set[str]] = {}
        for step in self.plan.steps:
            for target in step.provider.watch_targets(step.resource.properties):
                self._watchers.setdefault(target, set()).add(step.resource.name)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.mode is Mode.APPLY_ONLY or self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="transom-drift", daemon=True)
        self._thread.start()

    def set_mode(self, mode: Mode) -> None:
        """Checks from now on run in ``mode``: the agent switches between correcting and only
        reporting at the edges of the host's maintenance windows. Never to or from ApplyOnly,
        which has no monitoring at all."""
        self.mode = mode

    def stop(self, timeout: float = 5.0) -> None:
        """Stop for good: the notifier is closed once the thread has let go of it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self.notifier is not None:
            self.notifier.close()

    def check_once(self, timeout: float) -> RunReport | None:
        """Wait up to ``timeout`` for notifications and check what they point at; None when
        nothing happened. The thread's loop body, usable directly from an event loop."""
        if self.notifier is None:
            self._stop.wait(timeout)
            return None
        fired = self.notifier.wait(timeout)
        if not fired:
            return None
        if self.settle > 0:
            time.sleep(self.settle)
            fired |= self.notifier.wait(0)
        names = {n for t in fired for n in self._watchers.get(t, ())}
        return self._check(names) if names else None

    def check_all(self) -> RunReport:
        return self._check(None)

    def _check(self, only: Collection[str] | None) -> RunReport:
        report = self.engine.check(self.plan, self.mode, only=only)
        if self.notifier is not None:
            self.notifier.watch(self._watchers.keys())
        return report

    def _loop(self) -> None:
        if self.notifier is not None:
            self.notifier.watch(self._watchers.keys())
        next_full = time.monotonic() + self.interval
        while not self._stop.is_set():
            try:
                remaining = next_full - time.monotonic()
                if remaining <= 0:
                    report: RunReport | None = self.check_all()
                    next_full = time.monotonic() + self.interval
                else:
                    report = self.check_once(min(remaining, _WAKE_SECONDS))
                if report is not None and not self._stop.is_set():
                    self.on_report(report)
            except Exception:  # a bad check must not end monitoring for good
                log.exception("drift check failed")
                self._stop.wait(_WAKE_SECONDS)
