"""Whether a host's agent is alive: its Lease renewed within the lease's duration (plus an
optional grace), as kubelets are judged. The one place this is decided, for the controller
and `transom status`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from transom.api.host import HOST_LEASE_DURATION_SECONDS

#: What a Lease without leaseDurationSeconds counts as (the agent's default).
DEFAULT_LEASE_SECONDS = float(HOST_LEASE_DURATION_SECONDS)


def _parse_time(value: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return None


def online(
    lease: dict[str, Any] | None, *, grace: float | None = None, now: dt.datetime | None = None
) -> bool:
    """A Lease renewed no longer ago than ``grace`` seconds (default: its own duration)."""
    if lease is None:
        return False
    spec = lease.get("spec") or {}
    renewed = _parse_time(str(spec.get("renewTime") or ""))
    if renewed is None or not spec.get("holderIdentity"):
        return False  # never renewed, or released by an agent that stopped
    if grace is None:
        grace = float(spec.get("leaseDurationSeconds") or DEFAULT_LEASE_SECONDS)
    return ((now or dt.datetime.now(dt.UTC)) - renewed).total_seconds() <= grace


def renewed_within(lease: dict[str, Any] | None, seconds: float, now: dt.datetime) -> bool:
    """Whether a Lease, held or released since, was renewed in the last ``seconds`` past its
    own duration."""
    spec = (lease or {}).get("spec") or {}
    renewed = _parse_time(str(spec.get("renewTime") or ""))
    if renewed is None:
        return False
    term = float(spec.get("leaseDurationSeconds") or DEFAULT_LEASE_SECONDS)
    return (now - renewed).total_seconds() <= term + seconds


def last_heartbeat(lease: dict[str, Any] | None) -> str:
    return str(((lease or {}).get("spec") or {}).get("renewTime") or "")


class Transitions:
    """Remembers each host's last liveness, so only changes cause work."""

    def __init__(self, is_online: Callable[[str], bool]) -> None:
        self._is_online = is_online
        self._last: dict[str, bool] = {}

    def changed(self, hosts: Iterable[str]) -> list[str]:
        out = []
        for host in hosts:
            now = self._is_online(host)
            if self._last.get(host) != now:
                self._last[host] = now
                out.append(host)
        return out

    def forget(self, host: str) -> None:
        self._last.pop(host, None)
