"""The agent's Prometheus metrics: how long resources take to apply, drift found, and the
host's chores (client certificate, audit checkpoints).

Workers report their runs and checks (`applied`, `checked`); the certificate and audit gauges
are read from the agent when scraped. One `AgentMetrics` per agent, each with its own registry,
so agents in one process (tests) stay apart; the simulator runs without any. Imported only
when metrics are on (`metrics.address` in agent.yaml, or `--metrics-addr`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator
from typing import TYPE_CHECKING, Final

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from transom import __version__
from transom.agent.enroll import certificate_window
from transom.engine.result import Action, RunReport
from transom.kube.metrics import ApiRequestMetrics, process_registry

if TYPE_CHECKING:
    from transom.agent.audit_publisher import AuditPublisher
    from transom.kube.client import Kube

APPLY_DURATION: Final = "transom_apply_duration_seconds"
DRIFT_EVENTS: Final = "transom_drift_events"
CERTIFICATE_EXPIRY: Final = "transom_certificate_expiry_timestamp_seconds"
AUDIT_LAST_CHECKPOINT: Final = "transom_audit_last_checkpoint_timestamp_seconds"
AUDIT_CHECKPOINT_AGE: Final = "transom_audit_checkpoint_age_seconds"
AGENT_INFO: Final = "transom_agent_info"

#: A registry value takes milliseconds, an MSI package or a DSC resource minutes.
APPLY_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)


class AgentMetrics:
    """Every metric of one agent, in its own registry (by default a new one with the process
    metrics)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry = registry or process_registry()
        #: The observer for this agent's `Kube` client.
        self.api = ApiRequestMetrics(registry)
        self.apply_duration = Histogram(
            APPLY_DURATION,
            "Seconds one resource took in an apply run (read, change, verify), by resource type.",
            ["type"],
            buckets=APPLY_BUCKETS,
            registry=registry,
        )
        self.drift_events = Counter(
            DRIFT_EVENTS,
            "Resources found out of their desired state between runs, by resource type: each "
            "correction, and each drift only reported (counted once while it lasts).",
            ["type"],
            registry=registry,
        )

    def applied(self, report: RunReport) -> None:
        """An apply run finished: every resource it looked at (skipped ones did nothing)."""
        if report.action is not Action.APPLY or report.drift_check:
            return
        for outcome in report.results:
            if not outcome.skipped:
                self.apply_duration.labels(outcome.kind).observe(outcome.duration_ms / 1000)

    def checked(self, report: RunReport, told: Collection[str]) -> None:
        """A drift check's report; ``told`` names the drifted resources already counted."""
        for outcome in report.results:
            corrected = outcome.in_desired_state
            if outcome.drifted and (corrected or outcome.name not in told):
                self.drift_events.labels(outcome.kind).inc()

    def observe_agent(
        self,
        host: str,
        kube: Kube,
        publisher: AuditPublisher | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """The gauges read when scraped: the client certificate ``kube`` uses now (rotation
        swaps it) and the audit checkpoints ``publisher`` has given the hub."""
        self.registry.register(_AgentCollector(host, kube, publisher, clock))


class _AgentCollector(Collector):
    def __init__(
        self, host: str, kube: Kube, publisher: AuditPublisher | None, clock: Callable[[], float]
    ) -> None:
        self.host = host
        self.kube = kube
        self.publisher = publisher
        self.clock = clock
        self._expiry: tuple[bytes, float] | None = None

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(self._families())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        info, expiry, last, age = families = self._families()
        info.add_metric([self.host, __version__], 1)
        not_after = self._not_after()
        if not_after is not None:
            expiry.add_metric([], not_after)
        if self.publisher is not None:
            published = self.publisher.published_at()
            if published is not None:
                last.add_metric([], published)
            since = self.publisher.unpublished_since()
            age.add_metric([], 0.0 if since is None else max(0.0, self.clock() - since))
        return iter(families)

    def _not_after(self) -> float | None:
        """The client certificate's notAfter, parsed once per certificate; None for a token."""
        cert = self.kube.config.cert_pem
        if cert is None:
            return None
        if self._expiry is None or self._expiry[0] is not cert:
            self._expiry = (cert, certificate_window(cert)[1].timestamp())
        return self._expiry[1]

    @staticmethod
    def _families() -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily(
                AGENT_INFO,
                "The agent's host name and version; always 1.",
                labels=["host", "version"],
            ),
            GaugeMetricFamily(
                CERTIFICATE_EXPIRY,
                "When the client certificate the agent authenticates with expires (Unix time); "
                "absent for token-based credentials.",
            ),
            GaugeMetricFamily(
                AUDIT_LAST_CHECKPOINT,
                "Time of the newest signed audit checkpoint the hub holds (Unix time).",
            ),
            GaugeMetricFamily(
                AUDIT_CHECKPOINT_AGE,
                "Seconds audit records have waited for a checkpoint the hub holds; 0 when "
                "every record is covered.",
            ),
        ]
