"""The agent: watch the host's Assignments and Secrets, one worker per Assignment, and the
host's own chores (Lease, Host report, audit checkpoints).

One informer per collection in the host's own namespace (list, then watch with bookmarks;
relist on 410 Gone), one `Worker` per Assignment (`worker.py`: its life as a state machine),
one Lease renewed every minute. Idle, the Lease renewals are the only requests: no
polling. When the API is unreachable the journal and the drift monitor keep enforcing the last
desired state; on reconnect a converged host costs one no-op check and no status write.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transom.agent.assignment_audit import AssignmentAudit
from transom.agent.audit_publisher import AuditPublisher
from transom.agent.events import AgentEvents
from transom.agent.host_api import KubeHostApi
from transom.agent.host_report import report_host
from transom.agent.lease import LeaseRenewer
from transom.agent.preview import PreviewResponder
from transom.agent.reboot_lease import RebootLease
from transom.agent.rotation import CertificateRotator
from transom.agent.secrets import SecretCache
from transom.agent.worker import Worker, WorkerOptions
from transom.api.configuration import Mode
from transom.api.host import HOST_LEASE_DURATION_SECONDS, HOST_LEASE_RENEW_SECONDS
from transom.api.names import host_namespace, host_user
from transom.engine.audit import (
    AuditKey,
    AuditLog,
    AuditTrail,
    ChangeSource,
    Checkpointer,
    EventLogSink,
)
from transom.engine.converge import Engine, Plan
from transom.engine.drift import DEFAULT_INTERVAL_SECONDS, DriftMonitor, Notifier
from transom.engine.journal import Journal
from transom.engine.policy import HostPolicy
from transom.engine.provider import Provider
from transom.engine.reboot import RebootCoordinator, Rebooter
from transom.engine.redact import SecretSealer
from transom.engine.result import RunReport
from transom.kube.client import Kube, RequestObserver
from transom.kube.config import KubeConfig
from transom.kube.informer import Informer
from transom.kube.kinds import ASSIGNMENTS, SECRETS
from transom.providers.windows.facade import WindowsFacade

if TYPE_CHECKING:
    from transom.agent.metrics import AgentMetrics

ASSIGNMENTS_DIR = "assignments"
AUDIT_DIR = "audit"
AUDIT_KEY = "audit.key"
Obj = dict[str, Any]

#: Connections an agent keeps for requests; each watch has one of its own. An agent has few
#: requests in flight, but with a pool of 32 it opened five at start-up (its first lists,
#: Lease and Host status at once) and kept them until idle for 75 s: five TLS handshakes
#: with client-certificate checks, and five connections' memory on the apiserver, per host.
REQUEST_CONNECTIONS = 2


def agent_kube(
    config: KubeConfig,
    *,
    observer: RequestObserver | None = None,
    source_address: str | None = None,
) -> Kube:
    """The client an agent talks to the cluster with (the service's and the simulator's)."""
    return Kube(
        config,
        field_manager="transom-agent",
        observer=observer,
        connections=REQUEST_CONNECTIONS,
        source_address=source_address,
    )


@dataclass(frozen=True)
class AgentOptions:
    lease_duration_seconds: int = HOST_LEASE_DURATION_SECONDS
    renew_interval_seconds: float = HOST_LEASE_RENEW_SECONDS
    #: Full drift check period; OS notifications catch most drift long before it.
    drift_interval_seconds: float = DEFAULT_INTERVAL_SECONDS
    #: False for large simulations: no monitor thread per Assignment.
    drift_monitor: bool = True
    #: Server-side watch timeout; each renewal of the watch is one request.
    watch_timeout_seconds: int = 1800
    backoff_max_seconds: float = 30.0
    #: How long "in progress" may take to reach the API before the run starts anyway.
    in_progress_timeout_seconds: float = 10.0
    #: Record every change in the hash-chained audit log and publish signed checkpoints.
    audit: bool = True


class Agent:
    """One host's agent. ``await agent.run()`` until cancelled."""

    def __init__(
        self,
        host: str,
        kube: Kube,
        *,
        providers: Mapping[str, Provider[Any]],
        state_dir: Path,
        policy: HostPolicy,
        options: AgentOptions | None = None,
        notifier_factory: Callable[[], Notifier | None] | None = None,
        rotator: CertificateRotator | None = None,
        rebooter: Rebooter | None = None,
        event_log: EventLogSink | None = None,
        metrics: AgentMetrics | None = None,
        facade: WindowsFacade | None = None,
    ) -> None:
        self.host = host
        #: Windows: for the service and eventLog readiness probes.
        self.facade = facade
        #: The Windows Event Log (None elsewhere): audit records and the agent's own events.
        self.events = AgentEvents(event_log)
        self.namespace = host_namespace(host)
        self.kube = kube
        self.state_dir = state_dir
        self.options = opts = options or AgentOptions()
        self.providers = dict(providers)
        self.policy = policy
        self.notifier_factory = notifier_factory
        self.rotator = rotator
        self.rebooter = rebooter
        self.secrets = SecretCache()
        self.api = KubeHostApi(kube, host, self.secrets)
        self.worker_options = WorkerOptions(
            in_progress_timeout_seconds=opts.in_progress_timeout_seconds,
            backoff_max_seconds=opts.backoff_max_seconds,
        )
        self.audit: AuditTrail | None = None
        self.checkpointer: Checkpointer | None = None
        self.publisher: AuditPublisher | None = None
        self.sealer: SecretSealer | None = None
        if opts.audit:
            log = AuditLog(state_dir / AUDIT_DIR)
            self.checkpointer = Checkpointer(log, AuditKey.load_or_create(state_dir / AUDIT_KEY))
            self.audit = AuditTrail(log, checkpointer=self.checkpointer, event_log=event_log)
            self.sealer = self.checkpointer.key.secret_sealer()
            self.publisher = AuditPublisher(
                kube, host, self.audit, self.checkpointer, retry_seconds=opts.backoff_max_seconds
            )
        #: None unless metrics are served (the simulator's agents run without).
        self.metrics = metrics
        if metrics is not None:
            metrics.observe_agent(host, kube, self.publisher)
        self.workers: dict[str, Worker] = {}
        self.assignments = Informer(
            kube,
            ASSIGNMENTS.path(self.namespace),
            self._on_assignment,
            on_list=self._on_assignments_listed,
            timeout_seconds=opts.watch_timeout_seconds,
            backoff_max_seconds=opts.backoff_max_seconds,
        )
        # Only changes matter: a (re)list of Secrets is no reason to run anything again.
        self.secret_watch = Informer(
            kube,
            SECRETS.path(self.namespace),
            self._on_secret,
            on_list=lambda _items: None,
            timeout_seconds=opts.watch_timeout_seconds,
            backoff_max_seconds=opts.backoff_max_seconds,
        )
        # Previews have their own path, apart from the workers: they can only look.
        self.previews = PreviewResponder(
            kube,
            host,
            providers=self.providers,
            policy=policy,
            timeout_seconds=opts.watch_timeout_seconds,
            backoff_max_seconds=opts.backoff_max_seconds,
        )
        self.lease = LeaseRenewer(
            kube,
            host,
            duration_seconds=opts.lease_duration_seconds,
            interval_seconds=opts.renew_interval_seconds,
            on_reconnect=self.reconnect,
        )
        #: The reboot budget's lease: only where this agent reboots its host at all.
        self.reboot_lease = (
            RebootLease(
                kube,
                host,
                on_granted=self._reboot_granted,
                timeout_seconds=opts.watch_timeout_seconds,
                backoff_max_seconds=opts.backoff_max_seconds,
            )
            if rebooter is not None
            else None
        )
        if rotator is not None:
            rotator.on_rotated = lambda _cert: self.reconnect()

    @property
    def synced(self) -> asyncio.Event:
        """Set once the first list of Assignments has been handed to the workers."""
        return self.assignments.synced

    @property
    def lease_renewals(self) -> int:
        return self.lease.renewals

    async def run(self) -> None:
        if self.audit is not None:
            # A torn last line from a crash was quarantined when the log opened: chain a note.
            self.audit.record_log_repair(ChangeSource(self.host, host_user(self.host)))
        (self.state_dir / ASSIGNMENTS_DIR).mkdir(parents=True, exist_ok=True)
        for d in sorted((self.state_dir / ASSIGNMENTS_DIR).iterdir()):
            if d.is_dir():
                self._worker(d.name)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.lease.run())
                tg.create_task(report_host(self.kube, self.host))
                if self.publisher is not None:
                    tg.create_task(self.publisher.run())
                tg.create_task(self.assignments.run())
                tg.create_task(self.secret_watch.run())
                if self.reboot_lease is not None:
                    tg.create_task(self.reboot_lease.run())
                tg.create_task(self.previews.run())
                if self.rotator is not None:
                    tg.create_task(self.rotator.run())
        finally:
            await asyncio.gather(*(w.close() for w in self.workers.values()))

    def halt(self) -> None:
        """The agent is stopping: each engine finishes the resource it is on, starts no other."""
        for worker in self.workers.values():
            worker.engine.halt()

    def reconnect(self) -> None:
        """Restart the watches: after a certificate rotation or an outage an old connection
        would otherwise hang on a closed session instead of ending."""
        self.assignments.restart()
        self.secret_watch.restart()
        self.previews.restart()

    def _worker(self, name: str) -> Worker:
        worker = self.workers.get(name)
        if worker is None or worker.done:
            worker = self.workers[name] = self._new_worker(name)
        return worker

    def _new_worker(self, name: str) -> Worker:
        journal = Journal(self.state_dir / ASSIGNMENTS_DIR / name)
        # An engine per Assignment, so the audit observer names the right source even when
        # one Assignment's drift check runs while another applies.
        audit = None
        if self.audit is not None and self.publisher is not None:
            audit = AssignmentAudit(self.audit, self.host, self.publisher.kick.set)
        engine = Engine(
            self.providers,
            policy=self.policy,
            secrets=self.secrets,
            observer=audit.observer if audit is not None else None,
            # Keyed by the audit key: a change to a secret shows in the digests, the secret not.
            sealer=self.sealer,
        )
        return Worker(
            name,
            engine=engine,
            journal=journal,
            api=self.api,
            options=self.worker_options,
            audit=audit,
            events=self.events,
            reboots=RebootCoordinator(journal, self.rebooter, permit=self.reboot_lease)
            if self.rebooter
            else None,
            reboot_lease=self.reboot_lease,
            monitors=self._monitor if self.options.drift_monitor else None,
            metrics=self.metrics,
            facade=self.facade,
        ).start()

    def _monitor(
        self, engine: Engine, plan: Plan, mode: Mode, on_report: Callable[[RunReport], None]
    ) -> DriftMonitor:
        return DriftMonitor(
            engine,
            plan,
            mode,
            on_report,
            notifier=self.notifier_factory() if self.notifier_factory else None,
            interval=self.options.drift_interval_seconds,
        )

    def _on_assignment(self, kind: str, obj: Obj) -> None:
        name = obj.get("metadata", {}).get("name", "")
        if kind in ("ADDED", "MODIFIED"):
            self._worker(name).offer(obj, from_list=False)
        elif kind == "DELETED" and name in self.workers:
            self.workers[name].delete()

    def _on_assignments_listed(self, items: list[Obj]) -> None:
        seen = set()
        for obj in items:
            name = obj["metadata"]["name"]
            seen.add(name)
            self._worker(name).offer(obj, from_list=True)
        # Deleted while we were not watching: apply the removal policy now.
        for name, worker in list(self.workers.items()):
            if name not in seen:
                worker.delete()

    def _reboot_granted(self) -> None:
        """The controller granted the reboot lease: the reboot waiting for it goes now."""
        for worker in self.workers.values():
            worker.check_now()

    def _on_secret(self, _kind: str, obj: Obj) -> None:
        """A Secret an Assignment uses changed: run that Assignment again."""
        name = obj.get("metadata", {}).get("name", "")
        for worker in self.workers.values():
            worker.secret_changed(name)
