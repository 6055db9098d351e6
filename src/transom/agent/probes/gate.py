"""The readiness gate: pure threshold logic over probe attempts, as Kubernetes counts them.

A probe passes after ``successThreshold`` consecutive successes and stops passing after
``failureThreshold`` consecutive failures (in between it keeps what it was). The host is Ready
once every probe has passed, without a break, for ``minReadySeconds``; it failed when it is not
Ready ``progressDeadlineSeconds`` after probing started. Times are seconds on one clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from transom.api.readiness import Readiness, ReadinessState


@dataclass(frozen=True)
class ProbeTrack:
    passing: bool = False
    successes: int = 0
    failures: int = 0
    message: str = "not run yet"

    def attempt(self, ok: bool, message: str, readiness: Readiness) -> ProbeTrack:
        if ok:
            successes = self.successes + 1
            passing = self.passing or successes >= readiness.success_threshold
            return ProbeTrack(passing, successes, 0, message)
        failures = self.failures + 1
        passing = self.passing and failures < readiness.failure_threshold
        return ProbeTrack(passing, 0, failures, message)


@dataclass(frozen=True)
class Gate:
    readiness: Readiness
    started: float
    probes: Mapping[str, ProbeTrack]
    #: Since when every probe passes; None while one does not.
    passing_since: float | None = None
    state: ReadinessState = ReadinessState.PENDING

    @classmethod
    def start(cls, readiness: Readiness, now: float) -> Gate:
        return cls(readiness, now, {p.name: ProbeTrack() for p in readiness.probes})

    @property
    def deadline(self) -> float:
        return self.started + self.readiness.progress_deadline_seconds

    @property
    def settled(self) -> bool:
        return self.state in (ReadinessState.READY, ReadinessState.FAILED)

    def observe(self, now: float, attempts: Mapping[str, tuple[bool, str]]) -> Gate:
        """The gate after one round of attempts (probe name -> ok, message) at ``now``. A
        settled gate does not move."""
        if self.settled:
            return self
        probes = {
            name: track.attempt(*attempts[name], self.readiness) if name in attempts else track
            for name, track in self.probes.items()
        }
        return replace(self, probes=probes).at(now)

    def at(self, now: float) -> Gate:
        """The gate when time passes without an attempt (the soak ends, the deadline comes)."""
        if self.settled:
            return self
        all_passing = all(t.passing for t in self.probes.values())
        since = (
            (self.passing_since if self.passing_since is not None else now) if all_passing else None
        )
        if since is not None and now - since >= self.readiness.min_ready_seconds:
            state = ReadinessState.READY
        elif now >= self.deadline:
            state = ReadinessState.FAILED
        elif since is not None:
            state = ReadinessState.SOAKING
        else:
            state = ReadinessState.PENDING
        return replace(self, passing_since=since, state=state)

    def next_wake(self, now: float, next_round: float) -> float:
        """When to look again: the next round of probes, or earlier if the soak or the
        deadline ends first."""
        wake = min(next_round, self.deadline)
        if self.passing_since is not None:
            wake = min(wake, self.passing_since + self.readiness.min_ready_seconds)
        return max(now, wake)

    def message(self) -> str:
        if self.state is ReadinessState.READY:
            return f"{len(self.probes)} probe(s) pass"
        failing = [(n, t) for n, t in self.probes.items() if not t.passing]
        if self.state is ReadinessState.SOAKING:
            return (
                f"{len(self.probes)} probe(s) pass; soaking for "
                f"{self.readiness.min_ready_seconds} s (minReadySeconds)"
            )
        detail = "; ".join(f"probe {n}: {t.message}" for n, t in failing[:3])
        if self.state is ReadinessState.FAILED:
            return (
                f"not Ready {self.readiness.progress_deadline_seconds} s after the apply "
                f"(progressDeadlineSeconds): {detail or 'probes passed too briefly'}"
            )
        return f"waiting for {len(failing)} of {len(self.probes)} probe(s): {detail}"
