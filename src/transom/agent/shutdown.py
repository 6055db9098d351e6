"""A graceful stop: what the agent does between "stop" (SIGTERM, the SCM) and exiting.

The resource being changed finishes (killing msiexec or a script half way leaves the host worse
than either state), nothing starts after it, the audit log's last records are signed in a final
checkpoint and published, and the Lease is released so the hub sees the host stop at once
rather than a Lease duration later. A stop that takes a while says so every few seconds, which
is what the Windows service manager needs to not declare the service hung.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from transom.agent import status as st
from transom.agent.runner import Agent
from transom.api.names import LEASE_NAME
from transom.kube.client import NETWORK_ERRORS, ApiError
from transom.kube.kinds import HOSTS, LEASES

log = logging.getLogger(__name__)

#: The longest a stop waits for the resource in progress; systemd's TimeoutStopSec and the
#: Windows service's stop deadline are derived from it. Past it the change processes are killed.
STOP_TIMEOUT_SECONDS = 300.0
#: How often a stop in progress is reported (the service's wait hint is a multiple of it).
PROGRESS_INTERVAL_SECONDS = 5.0
#: Each request of the stop (checkpoint, Lease) gives up after this long: offline, we just exit.
REQUEST_TIMEOUT_SECONDS = 5.0

#: Called while stopping with the seconds elapsed, at least every PROGRESS_INTERVAL_SECONDS.
StopProgress = Callable[[float], None]


async def stop_gracefully(
    agent: Agent,
    task: asyncio.Task[Any],
    *,
    timeout: float = STOP_TIMEOUT_SECONDS,
    progress: StopProgress | None = None,
    on_overdue: Callable[[], None] | None = None,
) -> bool:
    """Stop ``agent`` (whose ``run()`` is ``task``); True when the resource in progress
    finished within ``timeout``. ``on_overdue`` runs when it did not (kill the change
    processes), before the final checkpoint."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    agent.halt()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    finished = await _wait_idle(agent, started + timeout, progress, started)
    if not finished:
        log.warning("stop: a change was still running after %.0f s; ending it", timeout)
        if on_overdue is not None:
            on_overdue()
    await _final_checkpoint(agent)
    await _release_lease(agent)
    log.info("agent %s stopped in %.1f s", agent.host, loop.time() - started)
    return finished


async def _wait_idle(
    agent: Agent, deadline: float, progress: StopProgress | None, started: float
) -> bool:
    loop = asyncio.get_running_loop()
    for worker in list(agent.workers.values()):
        while True:
            left = deadline - loop.time()
            if left <= 0:
                return False
            step = min(left, PROGRESS_INTERVAL_SECONDS)
            if await asyncio.to_thread(worker.engine.wait_idle, step):
                break
            log.info("stop: waiting for assignment %s to finish its resource", worker.name)
            if progress is not None:
                progress(loop.time() - started)
    return True


async def _final_checkpoint(agent: Agent) -> None:
    """Sign what is not signed yet and publish it: the hub's witness covers the last change."""
    checkpointer = agent.checkpointer
    if checkpointer is None:
        return
    if checkpointer.seconds_until_due() is not None:
        try:
            await asyncio.to_thread(checkpointer.checkpoint)
        except OSError as exc:
            log.warning("stop: final audit checkpoint not stored: %s", exc)
            return
    latest = checkpointer.latest
    if latest is None:
        return
    body = {"status": {"auditCheckpoint": latest.to_api().model_dump(mode="json", by_alias=True)}}
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
            await agent.kube.patch(HOSTS.path(name=agent.host, subresource="status"), body)
    except (ApiError, *NETWORK_ERRORS) as exc:
        log.info("stop: final audit checkpoint not published (the next start does): %s", exc)


async def _release_lease(agent: Agent) -> None:
    """Give the Lease up as client-go's leader election does: no holder, one-second duration."""
    path = LEASES.path(agent.namespace, LEASE_NAME)
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
            lease = await agent.kube.get_or_none(path)
            if lease is None:
                return
            now = st.micro_time()
            lease.setdefault("spec", {}).update(
                {"holderIdentity": "", "leaseDurationSeconds": 1, "renewTime": now}
            )
            await agent.kube.replace(path, lease)
    except (ApiError, *NETWORK_ERRORS) as exc:
        log.info("stop: Lease not released (it expires by itself): %s", exc)
