"""The Windows change notifier (engine.drift.Notifier) over the facade's subscriptions.

One OS subscription per directory, registry key or service, however many targets share it,
each on its own thread (NotifyServiceStatusChange delivers to the thread that armed it, and the
others block). A target whose object cannot be watched yet (a directory or key not created) is
left to the periodic check; watch() is called again after each check and picks it up.
"""

from __future__ import annotations

import logging
import ntpath
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import cast

from transom.engine.provider import WatchTarget
from transom.providers.windows import facade as f
from transom.providers.windows.facade import WindowsApiError

log = logging.getLogger(__name__)

#: How often a subscription thread looks at its stop flag.
_POLL_SECONDS = 0.25

SubscriptionKey = tuple[str, ...]


def parse_registry_path(path: str) -> tuple[f.Hive, str, f.View]:
    """``HKLM\\SOFTWARE\\X@32`` -> (hive, key, view); the view defaults to 64."""
    view: f.View = 64
    base, _, suffix = path.rpartition("@")
    if base and suffix in ("32", "64"):
        path, view = base, cast(f.View, int(suffix))
    hive, _, key = path.partition("\\")
    return cast(f.Hive, hive.upper()), key, view


def _plan(target: WatchTarget) -> tuple[SubscriptionKey, str | None]:
    """Which subscription sees a target change, and the entry name to match (None: any)."""
    if target.kind in ("file", "directory"):
        # The parent sees an entry's creation, deletion, writes, attribute and ACL changes.
        parent, name = ntpath.split(target.path.rstrip("\\/"))
        return ("directory", parent.lower()), name.lower()
    if target.kind == "tree":
        return ("tree", target.path.rstrip("\\/").lower()), None
    if target.kind == "registry":
        hive, key, view = parse_registry_path(target.path)
        return ("registry", hive, key.lower(), str(view)), None
    if target.kind == "service":
        return ("service", target.path.lower()), None
    raise ValueError(f"unknown watch target kind {target.kind!r}")


@dataclass
class _Watch:
    stop: threading.Event = field(default_factory=threading.Event)
    #: target -> entry name it matches (None: any change of the subscription).
    targets: dict[WatchTarget, str | None] = field(default_factory=dict)


class WindowsNotifier:
    def __init__(self, os: f.WindowsFacade) -> None:
        self._os = os
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._pending: set[WatchTarget] = set()
        self._watches: dict[SubscriptionKey, _Watch] = {}
        self._closed = False

    def watch(self, targets: Collection[WatchTarget]) -> None:
        wanted: dict[SubscriptionKey, dict[WatchTarget, str | None]] = {}
        for target in targets:
            key, name = _plan(target)
            wanted.setdefault(key, {})[target] = name
        with self._lock:
            for key in list(self._watches):
                if key not in wanted:
                    self._watches.pop(key).stop.set()
            missing = {k: v for k, v in wanted.items() if k not in self._watches}
            for key, matched in wanted.items():
                if key in self._watches:
                    self._watches[key].targets = matched
        for key, matched in missing.items():
            self._open(key, matched)

    def wait(self, timeout: float) -> set[WatchTarget]:
        with self._changed:
            self._changed.wait_for(lambda: bool(self._pending) or self._closed, timeout)
            changed, self._pending = self._pending, set()
        return changed

    def close(self) -> None:
        with self._changed:
            self._closed = True
            for watch in self._watches.values():
                watch.stop.set()
            self._watches.clear()
            self._changed.notify_all()

    # --- internals ----------------------------------------------------------------------------

    def _subscribe(self, key: SubscriptionKey) -> Callable[[], f.Subscription]:
        kind = key[0]
        if kind == "directory":
            return lambda: self._os.subscribe_directory(key[1])
        if kind == "tree":
            return lambda: self._os.subscribe_directory(key[1], subtree=True)
        if kind == "registry":
            hive, name, view = cast(f.Hive, key[1]), key[2], cast(f.View, int(key[3]))
            return lambda: self._os.subscribe_registry(hive, name, view)
        return lambda: self._os.subscribe_service(key[1])

    def _open(self, key: SubscriptionKey, targets: dict[WatchTarget, str | None]) -> None:
        watch = _Watch(targets=targets)
        ready = threading.Event()
        failed: list[WindowsApiError] = []

        def run() -> None:
            # Subscribed on this thread: a service notification arrives on the arming thread.
            try:
                sub = self._subscribe(key)()
            except WindowsApiError as exc:
                failed.append(exc)
                ready.set()
                return
            ready.set()
            try:
                while not watch.stop.is_set():
                    names = sub.wait(_POLL_SECONDS)
                    if names is not None:
                        self._fire(watch, names)
            except WindowsApiError as exc:
                # The object went away (directory deleted, service removed): the next watch()
                # after the check re-subscribes; tell the engine to check now.
                log.debug("watch %s ended: %s", key, exc)
                self._fire(watch, frozenset())
                with self._lock:
                    if self._watches.get(key) is watch:
                        del self._watches[key]
            finally:
                sub.close()

        threading.Thread(target=run, daemon=True, name=f"watch-{key[0]}").start()
        ready.wait()
        if failed:
            log.debug("cannot watch %s yet: %s", key, failed[0])
            return
        with self._lock:
            if self._closed:
                watch.stop.set()
            else:
                self._watches[key] = watch

    def _fire(self, watch: _Watch, names: frozenset[str]) -> None:
        with self._changed:
            if watch.stop.is_set():
                # Unwatched while this event was on its way.
                return
            hit = {
                t for t, name in watch.targets.items() if not names or name is None or name in names
            }
            if hit:
                self._pending |= hit
                self._changed.notify_all()
