"""The worker's own reading of the host's maintenance windows: a new generation received
outside them waits (status WaitingForWindow, with the next opening) and starts when one
opens; with driftCorrection Report, drift outside them is reported, not corrected, and is
corrected when a window opens; both survive a restart without the API."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from transom.agent.window_gate import WINDOWS_FILE
from transom.agent.worker import Phase, Worker
from transom.api.conditions import (
    DRIFT_CORRECTED,
    DRIFT_DETECTED,
    READY,
    RECONCILING,
    WAITING_FOR_WINDOW,
    find_condition,
)

from .worker_harness import NAME, FakeHostApi, assignment, new_worker, spec


def at(moment: datetime) -> str:
    """A six-field cron schedule (seconds first) that matches ``moment`` once, in UTC."""
    return f"{moment.second} {moment.minute} {moment.hour} {moment.day} {moment.month} *"


def window(name: str, opens: datetime, seconds: int) -> dict[str, Any]:
    return {"name": name, "schedule": at(opens), "duration": f"{seconds}s"}


def with_windows(body: dict[str, Any], *windows: dict[str, Any], report: bool) -> dict[str, Any]:
    body["maintenance"] = {
        "windows": list(windows),
        "driftCorrection": "Report" if report else "Correct",
    }
    return body


def second(offset: float) -> datetime:
    """A whole second ``offset`` seconds from now (UTC)."""
    return (datetime.now(UTC) + timedelta(seconds=offset)).replace(microsecond=0)


async def until(check: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met"
        await asyncio.sleep(0.05)


async def started(tmp_path: Path, body: dict[str, Any]) -> tuple[FakeHostApi, Worker, Path]:
    """A worker that has taken generation 1 with ``body`` and settled; and the file it manages."""
    api = FakeHostApi()
    worker = new_worker(tmp_path, api)
    api.obj = assignment("u1", 1, body)
    worker.offer(api.seen(), from_list=True)
    await worker.settled()
    return api, worker, tmp_path / "root" / "app.conf"


def phase(worker: Worker) -> Phase:
    return worker.phase


def held(worker: Worker) -> bool:
    """Whether a generation waits (a function, so that checks in sequence are not narrowed)."""
    return worker.held is not None


async def test_a_generation_received_outside_its_window_waits_for_it(tmp_path: Path) -> None:
    opens = second(3)
    body = with_windows(spec(tmp_path / "root", 1, "v1"), window("soon", opens, 600), report=False)
    api, worker, conf = await started(tmp_path, body)
    await worker.pusher.flushed()
    status = api.status()
    ready, reconciling = (find_condition(status.conditions, t) for t in (READY, RECONCILING))
    assert ready is not None and ready.reason == WAITING_FOR_WINDOW and ready.status == "False"
    assert reconciling is not None and reconciling.reason == WAITING_FOR_WINDOW
    assert "outside its Allow windows soon" in ready.message
    assert status.next_window == opens.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert status.observed_generation < 1  # nothing applied: the run has not happened
    assert [r for r, _ in api.events] == [WAITING_FOR_WINDOW]
    # Sampled until the window opens: nothing is applied before it, echoes or not.
    while datetime.now(UTC) < opens - timedelta(seconds=0.3):
        worker.offer(api.seen(), from_list=False)
        await worker.settled()
        assert not conf.exists() and phase(worker) is Phase.IDLE
        await asyncio.sleep(0.1)
    await until(conf.exists)
    await worker.settled()
    await worker.pusher.flushed()
    assert conf.read_text() == "v1"
    done = api.status()
    assert done.observed_generation == 1 and done.next_window == ""
    assert find_condition(done.conditions, RECONCILING) is None
    assert [r for r, _ in api.events].count(WAITING_FOR_WINDOW) == 1
    await worker.close()


async def test_outside_its_windows_drift_is_reported_and_corrected_once_one_opens(
    tmp_path: Path,
) -> None:
    now = second(0)
    closes, reopens = now + timedelta(seconds=6), now + timedelta(seconds=9)
    body = with_windows(
        spec(tmp_path / "root", 1, "v1"),
        window("now", now, 6),
        window("later", reopens, 600),
        report=True,
    )
    api, worker, conf = await started(tmp_path, body)
    assert conf.read_text() == "v1"
    assert datetime.now(UTC) < closes, "applied only after its window closed: too slow a machine"
    await until(lambda: datetime.now(UTC) > closes + timedelta(seconds=0.2))

    conf.write_text("tampered")
    worker.check_now()
    await worker.settled()
    await worker.pusher.flushed()
    assert conf.read_text() == "tampered"  # reported, not corrected
    status = api.status()
    ready = find_condition(status.conditions, READY)
    assert ready is not None and ready.reason == DRIFT_DETECTED and status.drifted == 1
    notes = [n for r, n in api.events if r == DRIFT_DETECTED]
    assert notes and "not corrected outside the host's maintenance windows" in notes[0]
    assert reopens.strftime("%Y-%m-%dT%H:%M:%SZ") in notes[0]
    while datetime.now(UTC) < reopens - timedelta(seconds=0.3):
        assert conf.read_text() == "tampered"
        await asyncio.sleep(0.1)
    # Corrected at the opening, with no check asked for.
    await until(lambda: conf.read_text() == "v1")
    await worker.settled()
    assert DRIFT_CORRECTED in [r for r, _ in api.events]
    await worker.close()


async def test_correct_keeps_correcting_drift_outside_the_windows(tmp_path: Path) -> None:
    now = second(0)
    body = with_windows(spec(tmp_path / "root", 1, "v1"), window("now", now, 5), report=False)
    _, worker, conf = await started(tmp_path, body)
    assert conf.read_text() == "v1"
    await until(lambda: datetime.now(UTC) > now + timedelta(seconds=5.2))
    conf.write_text("tampered")
    worker.check_now()
    await worker.settled()
    assert conf.read_text() == "v1"
    await worker.close()


async def test_a_restart_outside_the_window_reports_from_the_journal_alone(
    tmp_path: Path,
) -> None:
    now = second(0)
    body = with_windows(spec(tmp_path / "root", 1, "v1"), window("now", now, 5), report=True)
    api, worker, conf = await started(tmp_path, body)
    await worker.pusher.flushed()
    await worker.close()
    assert conf.read_text() == "v1" and (tmp_path / "state" / NAME / WINDOWS_FILE).exists()
    await until(lambda: datetime.now(UTC) > now + timedelta(seconds=5.2))

    conf.write_text("tampered")
    api.mode = "down"  # no API: the windows come from the state folder
    again = new_worker(tmp_path, api)
    await again.settled()
    assert phase(again) is Phase.ENFORCING and conf.read_text() == "tampered"
    await again.close()


async def test_a_held_generation_keeps_the_last_one_enforced_until_a_newer_spec_comes(
    tmp_path: Path,
) -> None:
    api, worker, conf = await started(tmp_path, spec(tmp_path / "root", 1, "v1"))
    later = second(3600)
    api.obj = assignment(
        "u1",
        2,
        with_windows(spec(tmp_path / "root", 2, "v2"), window("w", later, 60), report=False),
    )
    worker.offer(api.seen(), from_list=False)
    await worker.settled()
    assert held(worker) and phase(worker) is Phase.ENFORCING
    # The generation it has is still enforced, and a check does not make the held one Ready.
    conf.write_text("tampered")
    worker.check_now()
    await worker.settled()
    await worker.pusher.flushed()
    assert conf.read_text() == "v1"
    ready = find_condition(api.status().conditions, READY)
    assert ready is not None and ready.reason == WAITING_FOR_WINDOW
    # A newer spec, invalid: it is what the status speaks of now, and nothing is held.
    api.obj = assignment("u1", 3, spec(tmp_path / "root", 3, "x", valid=False))
    worker.offer(api.seen(), from_list=False)
    await worker.settled()
    await worker.pusher.flushed()
    assert not held(worker) and phase(worker) is Phase.INVALID
    ready = find_condition(api.status().conditions, READY)
    assert ready is not None and ready.reason == "InvalidSpec"
    assert conf.read_text() == "v1"
    await worker.close()
