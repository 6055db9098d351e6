"""Running an enrolled agent from its state directory: what `transom agent run` does."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transom.agent.config import AgentConfiguration
from transom.agent.credentials.connect import connect, enrolled_connection
from transom.agent.credentials.whoami import require_host_identity
from transom.agent.enroll import DEFAULT_EXPIRATION_SECONDS, certificate_window
from transom.agent.events import AgentEvents, platform_event_log
from transom.agent.rotation import DEFAULT_FRACTION, CertificateRotator
from transom.agent.runner import Agent, AgentOptions, agent_kube
from transom.agent.shutdown import STOP_TIMEOUT_SECONDS, StopProgress, stop_gracefully
from transom.agent.statedir import secure_state_dir
from transom.agent.store import SecretStore, default_store
from transom.engine.audit import EventLogSink
from transom.engine.drift import Notifier
from transom.engine.policy import HostPolicy
from transom.engine.provider import Provider
from transom.engine.reboot import Rebooter
from transom.providers.children import CHILDREN_DIR, children
from transom.providers.windows.facade import WindowsFacade

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlatformBackend:
    """This OS's providers, how it reboots (None where boots cannot be told apart), and its
    change notifications (None: only the periodic check finds drift)."""

    providers: Mapping[str, Provider[Any]]
    rebooter: Rebooter | None
    notifier_factory: Callable[[], Notifier | None]
    #: Windows: what the service and eventLog readiness probes ask; None elsewhere.
    facade: WindowsFacade | None = None


def platform_backend(cache_dir: Path) -> PlatformBackend:
    if os.name == "nt":
        from transom.providers.windows import providers  # noqa: PLC0415 - per platform
        from transom.providers.windows.notify import WindowsNotifier  # noqa: PLC0415
        from transom.providers.windows.reboot import WindowsRebooter  # noqa: PLC0415
        from transom.providers.windows.win32 import Win32Facade  # noqa: PLC0415

        # One facade for all three, so they share its PowerShell host and handles.
        facade = Win32Facade(staging_dir=str(cache_dir))
        return PlatformBackend(
            providers(facade), WindowsRebooter(facade), lambda: WindowsNotifier(facade), facade
        )
    from transom.providers.posix import posix_providers  # noqa: PLC0415 - per platform
    from transom.providers.posix.reboot import BOOT_ID, PosixRebooter  # noqa: PLC0415

    return PlatformBackend(
        posix_providers(str(cache_dir)),
        PosixRebooter() if BOOT_ID.exists() else None,
        _posix_notifier,
    )


def _posix_notifier() -> Notifier | None:
    if hasattr(os, "uname") and os.uname().sysname == "Linux":
        from transom.providers.posix.inotify import InotifyNotifier  # noqa: PLC0415

        return InotifyNotifier()
    return None


@dataclass(frozen=True)
class RunSettings:
    state_dir: Path
    #: What the cluster may do here; ``agent_policy`` builds it from the host's policy file.
    policy: HostPolicy
    options: AgentOptions = field(default_factory=AgentOptions)
    rotation_fraction: float = DEFAULT_FRACTION
    expiration_seconds: int = DEFAULT_EXPIRATION_SECONDS
    stop_timeout_seconds: float = STOP_TIMEOUT_SECONDS
    #: Where the cluster is and how this host proves who it is (`credentials.connect`), from
    #: agent.yaml; None: the identity `transom agent enroll` left in ``state_dir``.
    config: AgentConfiguration | None = None
    #: Serve Prometheus metrics on (host, port); None: no endpoint (agent.yaml `metrics`).
    metrics_address: tuple[str, int] | None = None


async def run_agent(
    settings: RunSettings,
    *,
    stop: asyncio.Event | None = None,
    store: SecretStore | None = None,
    on_stopping: StopProgress | None = None,
    event_log: EventLogSink | None = None,
) -> None:
    """Run the enrolled agent in ``settings.state_dir`` until ``stop`` is set, then stop
    gracefully (see transom.agent.shutdown; ``on_stopping`` hears its progress), or until
    cancelled. Events go to ``event_log``, by default the Windows Event Log on Windows."""
    # SYSTEM acts on what is in there: refuse a directory others can write.
    secure_state_dir(settings.state_dir)
    store = store or default_store(settings.state_dir)
    events = AgentEvents(event_log if event_log is not None else platform_event_log())
    # What the agent starts dies with it (Windows: a job object), and a change process a
    # killed agent left running ends before anything runs again.
    children.contain()
    children.use(settings.state_dir / CHILDREN_DIR)
    await asyncio.to_thread(children.reap)
    connection = (
        enrolled_connection(settings.state_dir, store)
        if settings.config is None
        else await connect(settings.config, store)
    )
    identity = connection.identity
    not_after = None
    if identity is not None:
        not_after = certificate_window(identity.cert_pem)[1].isoformat()
        log.info("agent %s starting; certificate valid until %s", connection.host, not_after)
    else:
        log.info("agent %s starting; credentials from %s", connection.host, connection.source)
    metrics = None
    if settings.metrics_address is not None:
        from transom.agent.metrics import AgentMetrics  # noqa: PLC0415 - only when served

        metrics = AgentMetrics()
    async with contextlib.AsyncExitStack() as stack:
        kube = await stack.enter_async_context(
            agent_kube(
                connection.kube_config, observer=metrics.api if metrics is not None else None
            )
        )
        if metrics is not None and settings.metrics_address is not None:
            from transom.kube.metrics import MetricsServer  # noqa: PLC0415

            await stack.enter_async_context(
                MetricsServer(metrics.registry, *settings.metrics_address)
            )
        # Anyone else's name would act with another host's rights: refuse before any work.
        await require_host_identity(kube, connection.host)
        backend = platform_backend(settings.state_dir / "cache")
        agent = Agent(
            connection.host,
            kube,
            providers=backend.providers,
            rebooter=backend.rebooter,
            state_dir=settings.state_dir,
            policy=settings.policy,
            options=settings.options,
            notifier_factory=backend.notifier_factory,
            facade=backend.facade,
            rotator=None
            if identity is None
            else CertificateRotator(
                connection.host,
                [kube],
                store,
                fraction=settings.rotation_fraction,
                expiration_seconds=settings.expiration_seconds,
            ),
            event_log=events.sink,
            metrics=metrics,
        )
        _announce_rotations(agent, events)
        events.started(agent.host, not_after, source=connection.source)
        task = asyncio.create_task(agent.run())
        if stop is None:
            await task
            return
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if task.done():
            await task
            return
        finished = await stop_gracefully(
            agent,
            task,
            timeout=settings.stop_timeout_seconds,
            progress=on_stopping,
            on_overdue=children.kill_all,
        )
        events.stopped(agent.host, finished=finished)


def _announce_rotations(agent: Agent, events: AgentEvents) -> None:
    rotator = agent.rotator
    if rotator is None:
        return
    then = rotator.on_rotated

    def rotated(cert: bytes) -> None:
        events.rotated(agent.host, certificate_window(cert)[1].isoformat())
        if then is not None:
            then(cert)

    rotator.on_rotated = rotated
