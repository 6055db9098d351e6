"""The worker's probing and rollback with the real engine and journal: Ready only after the
probes pass, a generation failing them past the deadline goes back to the last Ready one, and
a restart neither runs the failed generation again nor forgets the rollback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from transom.agent.worker import Phase, Worker
from transom.api.assignment import AssignmentState

from .worker_harness import FakeHostApi, assignment, new_worker, spec


@pytest.fixture
async def port() -> AsyncIterator[int]:
    """A port that answers, for the probe of the good generation."""
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


def probed(root: Path, generation: int, content: str, port: int) -> dict[str, Any]:
    body = spec(root, generation, content)
    body["readiness"] = {
        "probes": [{"name": "app", "tcp": {"host": "127.0.0.1", "port": port}}],
        "periodSeconds": 1,
        "progressDeadlineSeconds": 2,
    }
    body["rollback"] = {"onFailure": True}
    return body


def phase(worker: Worker) -> Phase:
    return worker.phase


async def until(api: FakeHostApi, state: AssignmentState, timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while api.obj is None or api.status().verdict().state is not state:
            await asyncio.sleep(0.05)


async def test_failed_probes_roll_back_and_a_restart_keeps_it_so(tmp_path: Path, port: int) -> None:
    api = FakeHostApi()
    root = tmp_path / "root"
    worker = new_worker(tmp_path, api)
    api.obj = assignment("u-1", 1, probed(root, 1, "v1", port))
    worker.offer(api.seen(), from_list=False)
    await until(api, AssignmentState.READY)
    assert worker.phase is Phase.ENFORCING

    # v2's probe targets a port nothing listens on: past the 2 s deadline it rolls back.
    api.obj = assignment("u-1", 2, probed(root, 2, "v2", 1))
    worker.offer(api.seen(), from_list=False)
    await until(api, AssignmentState.PROBING)
    assert (root / "app.conf").read_text() == "v2"
    await until(api, AssignmentState.ROLLED_BACK)
    status = api.status()
    assert status.rollback is not None
    assert (status.rollback.from_generation, status.rollback.to_generation) == (2, 1)
    assert "connect 127.0.0.1:1" in status.rollback.message
    assert (root / "app.conf").read_text() == "v1"
    assert phase(worker) is Phase.ROLLED_BACK
    reasons = [reason for reason, _ in api.events]
    assert reasons[-2:] == ["RollingBack", "RolledBack"]
    writes = len(api.writes)
    await worker.close()

    # The agent restarts with the API showing v2 rolled back: v2 is not run again.
    again: Worker = new_worker(tmp_path, api)
    again.offer(api.seen(), from_list=True)
    await again.settled()
    assert phase(again) is Phase.ROLLED_BACK
    assert (root / "app.conf").read_text() == "v1"
    assert api.status().verdict().state is AssignmentState.ROLLED_BACK
    assert len(api.writes) == writes

    # Drift on the rolled-back host is corrected to v1, and still not Ready.
    (root / "app.conf").write_text("tampered")
    again.check_now()
    await again.settled()
    assert (root / "app.conf").read_text() == "v1"
    assert api.status().verdict().state is AssignmentState.ROLLED_BACK

    # The fix (v3) runs, probes pass, the host is Ready at v3.
    api.obj = assignment("u-1", 3, probed(root, 3, "v3", port))
    again.offer(api.seen(), from_list=False)
    await until(api, AssignmentState.READY)
    assert (root / "app.conf").read_text() == "v3"
    assert api.status().rollback is None
    await again.close()


async def test_a_restart_while_probing_probes_again(tmp_path: Path, port: int) -> None:
    api = FakeHostApi()
    root = tmp_path / "root"
    worker = new_worker(tmp_path, api)
    body = probed(root, 1, "v1", port)
    body["readiness"]["minReadySeconds"] = 1
    api.obj = assignment("u-1", 1, body)
    worker.offer(api.seen(), from_list=False)
    await until(api, AssignmentState.PROBING)
    await worker.close()  # the agent stops mid-probing: the API still says Probing

    again = new_worker(tmp_path, api)
    again.offer(api.seen(), from_list=True)
    await until(api, AssignmentState.READY)
    assert phase(again) is Phase.ENFORCING
    # Probed again, not applied again: the probes' own Event (an apply that succeeded has
    # none; its status says it).
    assert [reason for reason, _ in api.events] == ["Succeeded"]
    await again.close()
