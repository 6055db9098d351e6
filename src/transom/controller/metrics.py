"""The controller's Prometheus metrics: rollouts, and hosts by state.

Configurations are measured where they are reconciled (`ConfigurationReconciler` calls
`rollout` with the host views it aggregated, and `forget` when one is deleted); host liveness
is read from the cache at scrape time, so it is never stale and costs nothing between scrapes.
Imported only with `--metrics-addr` (see transom.kube.metrics).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from transom.api import conditions as c
from transom.api.configuration import ConfigurationStatus
from transom.controller.cache import Cache
from transom.controller.hostview import HostView
from transom.controller.status import GATE_REASONS
from transom.kube.informer import Key
from transom.kube.metrics import ApiRequestMetrics, process_registry

ROLLOUT_DURATION: Final = "transom_rollout_duration_seconds"
ROLLOUT_START: Final = "transom_rollout_start_timestamp_seconds"
CONFIGURATION_HOSTS: Final = "transom_configuration_hosts"
CONFIGURATION_STALLED: Final = "transom_configuration_stalled"
ROLLOUT_WAITING: Final = "transom_rollout_waiting"
HOSTS: Final = "transom_hosts"
HOST_ONLINE: Final = "transom_host_online"

#: Rollouts take seconds on a small fleet and hours on a large one in waves.
ROLLOUT_BUCKETS = (5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 43200)


class HostState(StrEnum):
    """One word per selected host for a Configuration's current generation; each host is
    in exactly one, so the states of a Configuration add up to its selected hosts."""

    READY = "ready"
    #: Ready, with drift only reported (ApplyAndMonitor).
    DRIFTED = "drifted"
    #: Given this generation, not finished with it (applying, or waiting for a reboot).
    UPDATING = "updating"
    #: Not given this generation yet: waiting for its wave.
    PENDING = "pending"
    FAILED = "failed"
    #: Its agent's heartbeat is stale, whatever it last reported.
    OFFLINE = "offline"


def host_state(view: HostView, generation: int) -> HostState:
    if not view.online:
        return HostState.OFFLINE
    if view.failed(generation):
        return HostState.FAILED
    if view.succeeded(generation):
        return HostState.DRIFTED if view.drifted else HostState.READY
    if view.at(generation):
        return HostState.UPDATING
    return HostState.PENDING


@dataclass
class _Rollout:
    generation: int
    started: float  # monotonic, for the duration (gates included: commit to every host)
    started_at: float  # wall clock, for the start gauge (reset when a gate opens)
    measured: bool
    #: Held by a gate (an approval, a maintenance window, a pause) at the last reconcile.
    gated: bool = False


class ControllerMetrics:
    """Every metric of one controller process, in its own registry (by default a new one with
    the process metrics)."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry = registry or process_registry()
        #: The observer for this process's `Kube` client.
        self.api = ApiRequestMetrics(registry)
        self.clock = clock
        self.wall_clock = wall_clock
        self.rollout_duration = Histogram(
            ROLLOUT_DURATION,
            "Seconds from the controller first seeing a Configuration generation to every "
            "host it selects running it Ready.",
            buckets=ROLLOUT_BUCKETS,
            registry=registry,
        )
        self.rollout_start = Gauge(
            ROLLOUT_START,
            "When the rollout of a Configuration's current generation started, or went on "
            "after waiting for a gate (Unix time); present only while hosts are rolling out.",
            ["namespace", "configuration"],
            registry=registry,
        )
        self.waiting = Gauge(
            ROLLOUT_WAITING,
            "1 while a rollout is held by a gate: reason WaitingForApproval, "
            "WaitingForWindow or Paused.",
            ["namespace", "configuration", "reason"],
            registry=registry,
        )
        self.configuration_hosts = Gauge(
            CONFIGURATION_HOSTS,
            "Hosts a Configuration selects, by state for its current generation.",
            ["namespace", "configuration", "state"],
            registry=registry,
        )
        self.stalled = Gauge(
            CONFIGURATION_STALLED,
            "1 while a Configuration is Stalled: its rollout halted or its spec cannot be applied.",
            ["namespace", "configuration"],
            registry=registry,
        )
        self._rollouts: dict[Key, _Rollout] = {}

    def observe_hosts(self, cache: Cache) -> None:
        """Hosts by liveness, read from the controller's cache when scraped."""
        self.registry.register(_HostCollector(cache))

    def rollout(
        self,
        key: Key,
        generation: int,
        hosts: Iterable[HostView] | None,
        status: ConfigurationStatus,
    ) -> None:
        """A Configuration reconciled: its hosts (None when the spec is unusable) and the
        status the controller wrote."""
        namespace, name = key
        stalled = c.find_condition(status.conditions, c.STALLED)
        self.stalled.labels(namespace, name).set(stalled is not None and stalled.status == "True")
        if hosts is None:
            self.rollout_start.remove(namespace, name)  # halted by its spec: Stalled says so
            return
        views = list(hosts)
        counts = dict.fromkeys(HostState, 0)
        for view in views:
            counts[host_state(view, generation)] += 1
        for state, n in counts.items():
            self.configuration_hosts.labels(namespace, name, state.value).set(n)

        now = self.clock()
        ready_hosts = counts[HostState.READY] + counts[HostState.DRIFTED]
        everyone_ready = bool(views) and ready_hosts == len(views)
        current = self._rollouts.get(key)
        if current is None or current.generation != generation:
            # Seen done at once (after a controller restart): its start is unknown, not measured.
            current = self._rollouts[key] = _Rollout(
                generation, now, self.wall_clock(), measured=everyone_ready
            )
        elif everyone_ready and not current.measured:
            self.rollout_duration.observe(now - current.started)
            current.measured = True
        ready = c.find_condition(status.conditions, c.READY)
        reason = ready.reason if ready is not None else ""
        gate = reason if reason in GATE_REASONS else None
        self.waiting.remove_by_labels({"namespace": namespace, "configuration": name})
        if gate is not None:
            self.waiting.labels(namespace, name, gate).set(1)
        if status.observed_generation == generation or reason == c.SUSPENDED or gate:
            # Done, halted, suspended, or waiting on purpose: nothing is stalled.
            self.rollout_start.remove(namespace, name)
        else:
            if current.gated:
                current.started_at = self.wall_clock()  # the gate opened: progress from now
            self.rollout_start.labels(namespace, name).set(current.started_at)
        current.gated = gate is not None

    def forget(self, key: Key) -> None:
        """The Configuration is gone: its series go too."""
        self._rollouts.pop(key, None)
        namespace, name = key
        self.rollout_start.remove(namespace, name)
        self.stalled.remove(namespace, name)
        for gauge in (self.configuration_hosts, self.waiting):
            gauge.remove_by_labels({"namespace": namespace, "configuration": name})


class _HostCollector(Collector):
    """`transom_hosts{state}` and `transom_host_online{host}`, from the cache when scraped:
    online means the agent renewed its Lease in time, as the Host's Ready condition says."""

    def __init__(self, cache: Cache) -> None:
        self.cache = cache

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(self._families())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        hosts = self._families()
        counts = {"online": 0, "offline": 0}
        for host in self.cache.host_names():
            online = self.cache.online(host)
            counts["online" if online else "offline"] += 1
            hosts[1].add_metric([host], 1 if online else 0)
        for state, n in counts.items():
            hosts[0].add_metric([state], n)
        return iter(hosts)

    @staticmethod
    def _families() -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily(
                HOSTS, "Hosts by liveness: online or offline (heartbeat stale).", labels=["state"]
            ),
            GaugeMetricFamily(
                HOST_ONLINE, "1 while the host's agent heartbeat is current.", labels=["host"]
            ),
        ]
