"""One Assignment's worker: its states, each transition, and what survives a restart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from transom.agent.worker import TRANSITIONS, InvalidTransitionError, Phase, Worker
from transom.api.conditions import READY, STALLED, find_condition

from .worker_harness import NAME, FakeHostApi, assignment, new_worker, spec


def phase(worker: Worker) -> Phase:
    """The phase now (a function, so that checks in sequence are not narrowed away)."""
    return worker.phase


def test_every_phase_but_removed_can_start_over_and_removed_is_final() -> None:
    assert TRANSITIONS[Phase.REMOVED] == frozenset()
    for phase in Phase:
        if phase is not Phase.REMOVED:
            assert Phase.STARTING in TRANSITIONS[phase], phase
    # Everything is reachable from Starting.
    reached, frontier = {Phase.STARTING}, [Phase.STARTING]
    while frontier:
        for nxt in TRANSITIONS[frontier.pop()] - reached:
            reached.add(nxt)
            frontier.append(nxt)
    assert reached == set(Phase)


async def test_a_transition_outside_the_table_is_refused(tmp_path: Path) -> None:
    worker = new_worker(tmp_path, FakeHostApi())
    await worker.settled()  # nothing journaled: Idle
    with pytest.raises(InvalidTransitionError, match="Idle -> Enforcing"):
        worker._enter(Phase.ENFORCING)
    assert phase(worker) is Phase.IDLE
    await worker.close()


async def test_apply_then_a_new_generation_then_invalid_then_removed(tmp_path: Path) -> None:
    api = FakeHostApi()
    worker = new_worker(tmp_path, api)
    conf = tmp_path / "root" / "app.conf"
    await worker.settled()
    assert phase(worker) is Phase.IDLE

    api.obj = assignment("u1", 1, spec(tmp_path / "root", 1, "v1", delete=True))
    worker.offer(api.seen(), from_list=True)
    await worker.settled()
    await worker.pusher.flushed()
    assert phase(worker) is Phase.ENFORCING and conf.read_text() == "v1"
    assert api.status().observed_generation == 1 and api.status().applied_revision.endswith("1")

    api.obj = assignment("u1", 2, spec(tmp_path / "root", 2, "x", valid=False, delete=True))
    worker.offer(api.seen(), from_list=False)
    await worker.settled()
    await worker.pusher.flushed()
    assert phase(worker) is Phase.INVALID
    stalled = find_condition(api.status().conditions, STALLED)
    assert stalled is not None and stalled.reason == "InvalidSpec"
    # The previous desired state is still enforced.
    conf.write_text("tampered")
    worker.check_now()
    await worker.settled()
    assert conf.read_text() == "v1" and phase(worker) is Phase.INVALID

    worker.delete()
    await worker.settled()
    assert phase(worker) is Phase.REMOVED and worker.done
    assert not conf.exists()  # removalPolicy Delete
    assert not (tmp_path / "state" / NAME).exists()
    await worker.close()


async def test_older_generation_is_never_applied_after_a_newer_one(tmp_path: Path) -> None:
    api = FakeHostApi()
    worker = new_worker(tmp_path, api)
    old = assignment("u1", 1, spec(tmp_path / "root", 1, "v1"))
    api.obj = assignment("u1", 2, spec(tmp_path / "root", 2, "v2"))
    worker.offer(api.seen(), from_list=False)
    await worker.settled()
    worker.offer(old, from_list=False)
    await worker.settled()
    assert (tmp_path / "root" / "app.conf").read_text() == "v2"
    assert worker.applied is not None and worker.applied.generation == 2
    # A re-created Assignment (a new uid) starts its own count.
    api.obj = assignment("u2", 1, spec(tmp_path / "root", 1, "new"))
    worker.offer(api.seen(), from_list=False)
    await worker.settled()
    assert (tmp_path / "root" / "app.conf").read_text() == "new"
    await worker.close()


async def test_restart_of_a_converged_host_writes_nothing(tmp_path: Path) -> None:
    api = FakeHostApi()
    worker = new_worker(tmp_path, api)
    api.obj = assignment("u1", 1, spec(tmp_path / "root", 1, "v1"))
    worker.offer(api.seen(), from_list=True)
    await worker.settled()
    await worker.pusher.flushed()
    await worker.close()
    writes = len(api.writes)

    again = new_worker(tmp_path, api)
    await again.settled()
    assert phase(again) is Phase.ENFORCING  # from the journal, before the API answers
    again.offer(api.seen(), from_list=True)
    await again.settled()
    assert phase(again) is Phase.ENFORCING and len(api.writes) == writes
    await again.close()


async def test_run_cut_short_by_a_crash_is_run_again(tmp_path: Path) -> None:
    api = FakeHostApi()
    worker = new_worker(tmp_path, api)
    api.obj = assignment("u1", 1, spec(tmp_path / "root", 1, "v1"))
    worker.offer(api.seen(), from_list=True)
    await worker.settled()
    await worker.close()
    # As if the process died between journaling the run and finishing it.
    entry = worker.journal.load()
    assert entry is not None and entry.origin is not None
    worker.journal.record(entry.resources, entry.mode, origin=entry.origin, completed=False)
    (tmp_path / "root" / "app.conf").unlink()
    writes = len(api.writes)

    again = new_worker(tmp_path, api)
    await again.settled()
    assert (tmp_path / "root" / "app.conf").read_text() == "v1"  # finished from the journal
    again.offer(api.seen(), from_list=True)
    await again.settled()
    await again.pusher.flushed()
    assert len(api.writes) == writes + 1  # the run is reported again, not assumed
    entry = again.journal.load()
    assert entry is not None and entry.completed
    await again.close()


async def test_format_1_journal_is_resumed_after_an_upgrade(tmp_path: Path) -> None:
    """A host upgraded in place: the old agent's journal is enforced, and a converged host
    writes nothing."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "app.conf").write_text("v1")
    obj = assignment("u1", 4, spec(root, 4, "v1"))
    api = FakeHostApi(obj=obj)
    obj["status"] = {
        "observedGeneration": 4,
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Succeeded",
                "message": "ok",
                "lastTransitionTime": "2026-11-30T10:00:00Z",
                "observedGeneration": 4,
            }
        ],
    }
    journal = tmp_path / "state" / NAME / "journal.json"
    journal.parent.mkdir(parents=True)
    journal.write_text(
        json.dumps(
            {
                "version": 1,
                "resources": [
                    {"name": "conf", "file": {"path": str(root / "app.conf"), "content": "v1"}}
                ],
                "mode": "ApplyAndAutoCorrect",
                "rebootPolicy": {"mode": "IfNeeded"},
                "source": {
                    "configuration": {"namespace": "default", "name": "web"},
                    "generation": 4,
                    "revision": "main@sha1:" + "0" * 39 + "4",
                    "uid": "u1",
                    "assignmentGeneration": 4,
                    "removalPolicy": "Orphan",
                    "completed": True,
                },
                "appliedAt": "2026-11-30T10:00:00Z",
                "reboot": None,
            }
        )
    )
    worker = new_worker(tmp_path, api)
    worker.offer(api.seen(), from_list=True)
    await worker.settled()
    assert phase(worker) is Phase.ENFORCING
    assert worker.acted == ("u1", 4) and api.writes == []
    ready = find_condition(api.status().conditions, READY)
    assert ready is not None and ready.status == "True"
    await worker.close()


async def test_status_reaches_the_api_once_it_is_back(tmp_path: Path) -> None:
    api = FakeHostApi(mode="down")
    worker = new_worker(tmp_path, api)
    api.obj = assignment("u1", 1, spec(tmp_path / "root", 1, "v1"))
    worker.offer(api.seen(), from_list=False)
    await worker.settled()
    assert (tmp_path / "root" / "app.conf").read_text() == "v1"  # enforced offline
    assert api.writes == []
    api.mode = "up"
    await worker.pusher.flushed()
    assert api.status().observed_generation == 1
    await worker.close()
