"""Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it.

The rules (``Rules``) are pure, so they are property-tested without a cluster:

- A Lease someone else holds is taken only once its record has not changed for a whole lease
  duration *by our own clock*: the holder's renewTime comes from the holder's clock, so it is
  never compared with ours (client-go's observedTime).
- The holder renews every retry period; it stops acting as leader once its last successful
  renewal is older than the renew deadline, which is shorter than the lease duration, so it
  has stopped before anyone else may take over.
- Every write carries the resourceVersion it read (optimistic concurrency): of two candidates
  racing for a free Lease, the apiserver accepts one.

Defaults are client-go's: lease 15 s, renew deadline 10 s, retry 2 s. A leader that stops
cleanly releases the Lease (empty holder), so a standby takes over at its next retry instead of
waiting out the lease (client-go's ReleaseOnCancel).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from transom.kube.client import ApiError, Kube, Obj
from transom.kube.kinds import LEASES
from transom.kube.ratelimit import critical

log = logging.getLogger(__name__)

LEASE_DURATION_SECONDS = 15.0
RENEW_DEADLINE_SECONDS = 10.0
RETRY_PERIOD_SECONDS = 2.0


def default_identity() -> str:
    """Unique per process, readable by people: the pod's name (its hostname) and a suffix."""
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}_{secrets.token_hex(4)}"


@dataclass(frozen=True)
class Record:
    """What a Lease says about its holder (the fields leader election reads and writes)."""

    holder: str = ""
    duration_seconds: float = LEASE_DURATION_SECONDS
    acquire_time: str = ""
    renew_time: str = ""
    transitions: int = 0

    @classmethod
    def of(cls, lease: Obj) -> Record:
        spec = lease.get("spec") or {}
        return cls(
            holder=str(spec.get("holderIdentity") or ""),
            duration_seconds=float(spec.get("leaseDurationSeconds") or LEASE_DURATION_SECONDS),
            acquire_time=str(spec.get("acquireTime") or ""),
            renew_time=str(spec.get("renewTime") or ""),
            transitions=int(spec.get("leaseTransitions") or 0),
        )

    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "holderIdentity": self.holder,
            "leaseDurationSeconds": max(1, round(self.duration_seconds)),
            "leaseTransitions": self.transitions,
        }
        if self.acquire_time:
            out["acquireTime"] = self.acquire_time
        if self.renew_time:
            out["renewTime"] = self.renew_time
        return out


@dataclass
class Rules:
    """One candidate's view: the record it last observed, and when (by its own clock)."""

    identity: str
    lease_duration: float = LEASE_DURATION_SECONDS
    renew_deadline: float = RENEW_DEADLINE_SECONDS
    observed: Record | None = None
    observed_at: float = 0.0
    #: When our last write as holder succeeded (our clock); None when not leading.
    renewed_at: float | None = None

    def __post_init__(self) -> None:
        if not 0 < self.renew_deadline < self.lease_duration:
            raise ValueError(
                f"renew deadline {self.renew_deadline} s must be positive and shorter than the "
                f"lease duration {self.lease_duration} s"
            )

    def observe(self, record: Record | None, now: float) -> None:
        """Note what the Lease says; the clock restarts only when the record changed."""
        if record != self.observed:
            self.observed, self.observed_at = record, now

    def may_write(self, now: float) -> bool:
        """Whether to try to acquire or renew now, given what was observed."""
        record = self.observed
        if record is None or not record.holder or record.holder == self.identity:
            return True
        return now >= self.observed_at + record.duration_seconds

    def next_record(self, stamp: str) -> Record:
        """The record to write to acquire (or renew) the Lease; ``stamp`` is MicroTime now."""
        record = self.observed
        if record is not None and record.holder == self.identity:
            return Record(
                self.identity,
                self.lease_duration,
                record.acquire_time or stamp,
                stamp,
                record.transitions,
            )
        transitions = 0 if record is None else record.transitions + 1
        return Record(self.identity, self.lease_duration, stamp, stamp, transitions)

    def written(self, record: Record, now: float) -> None:
        """Our write, sent at ``now``, was accepted (the deadline counts from the sending: the
        others' clocks start when they see the write, which is later)."""
        self.observe(record, now)
        self.renewed_at = now

    def leading(self, now: float) -> bool:
        """Acting as leader is allowed: the last successful renewal is within the deadline."""
        return self.renewed_at is not None and now < self.renewed_at + self.renew_deadline

    def lost(self) -> None:
        self.renewed_at = None


class LeadershipLostError(Exception):
    """The Lease could not be renewed within the renew deadline."""


def micro_time() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """``await elector.acquire()`` until this process leads, then ``await elector.hold()``,
    which renews until cancelled (releasing the Lease) or raises LeadershipLostError."""

    def __init__(
        self,
        kube: Kube,
        namespace: str,
        name: str,
        *,
        identity: str | None = None,
        lease_duration: float = LEASE_DURATION_SECONDS,
        renew_deadline: float = RENEW_DEADLINE_SECONDS,
        retry_period: float = RETRY_PERIOD_SECONDS,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.retry_period = retry_period
        self.rules = Rules(identity or default_identity(), lease_duration, renew_deadline)
        self._clock = clock or time.monotonic
        self._lease: Obj | None = None
        self._path = LEASES.path(namespace, name)

    @property
    def identity(self) -> str:
        return self.rules.identity

    def leading(self) -> bool:
        return self.rules.leading(self._clock())

    async def acquire(self) -> None:
        """Return once this process holds the Lease."""
        logged = False
        while not await self._try():
            holder = self.rules.observed.holder if self.rules.observed else ""
            if not logged:
                log.info("standing by: lease %s/%s held by %s", self.namespace, self.name, holder)
                logged = True
            await asyncio.sleep(self.retry_period)
        log.info("leading: lease %s/%s acquired as %s", self.namespace, self.name, self.identity)

    async def hold(self) -> None:
        """Renew every retry period; release the Lease when cancelled."""
        try:
            while True:
                await asyncio.sleep(self.retry_period)
                try:
                    renewed = await self._try()
                except Exception as e:  # network or API: retried until the deadline
                    log.warning("lease %s/%s not renewed: %s", self.namespace, self.name, e)
                    renewed = False
                if not renewed and not self.leading():
                    self.rules.lost()
                    raise LeadershipLostError(
                        f"lease {self.namespace}/{self.name} not renewed within "
                        f"{self.rules.renew_deadline:g} s"
                    )
        except asyncio.CancelledError:
            await self.release()
            raise

    async def release(self) -> None:
        """Give the Lease up (holder emptied, duration 1 s) if we still hold it."""
        if self._lease is None or not self.leading():
            return
        self.rules.lost()
        lease = dict(self._lease)
        lease["spec"] = {
            **(lease.get("spec") or {}),
            "holderIdentity": "",
            "leaseDurationSeconds": 1,
        }
        try:
            with critical():
                await asyncio.wait_for(
                    self.kube.replace(self._path, lease), timeout=self.retry_period
                )
            log.info("lease %s/%s released", self.namespace, self.name)
        except (ApiError, OSError, TimeoutError) as e:
            log.warning("lease %s/%s not released: %s", self.namespace, self.name, e)

    async def _try(self) -> bool:
        """One acquire-or-renew attempt: True when we hold the Lease after it."""
        with critical():  # never queued behind the controller's own bulk writes
            return await self._attempt()

    async def _attempt(self) -> bool:
        lease = await self.kube.get_or_none(self._path)
        now = self._clock()
        if lease is None:
            record, sent = self.rules.next_record(micro_time()), self._clock()
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": record.spec(),
            }
            try:
                self._lease = await self.kube.create(LEASES.path(self.namespace), body)
            except ApiError as e:
                if e.status == 409:
                    return False  # another candidate created it first
                raise
            self.rules.written(record, sent)
            return True
        self.rules.observe(Record.of(lease), now)
        if not self.rules.may_write(now):
            self._lease = lease
            return False
        record, sent = self.rules.next_record(micro_time()), self._clock()
        body = {**lease, "spec": {**(lease.get("spec") or {}), **record.spec()}}
        try:
            # metadata.resourceVersion is the one read: a concurrent write makes this a 409.
            self._lease = await self.kube.replace(self._path, body)
        except ApiError as e:
            if e.status == 409:
                return False
            raise
        self.rules.written(record, sent)
        return True
