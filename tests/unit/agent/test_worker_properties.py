"""Property: whatever happens to an Assignment, and in whatever order (new generations, valid
or not, stale events, re-lists, drift, API errors and outages, restarts from the journal, a
crash mid-run, deletion and re-creation), its worker

- only moves along the transition table (an unexpected error would be counted),
- never applies an older generation of an Assignment after a newer one,
- enforces the newest valid generation on disk, and
- once the API is reachable, leaves the status the API shows equal to what it wants, with
  conditions that say what its results say.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as hs

from transom.agent import status as st
from transom.agent.worker import Phase, Worker
from transom.api.assignment import AssignmentState
from transom.api.conditions import READY, STALLED, find_condition

from .worker_harness import FakeHostApi, assignment, new_worker, spec

GENERATION = hs.tuples(hs.just("generation"), hs.booleans(), hs.booleans())  # valid, Delete
EVENTS = hs.one_of(
    # New generations are the common event: weighted so sequences have several.
    GENERATION,
    GENERATION,
    GENERATION,
    hs.tuples(hs.just("relist")),
    hs.tuples(hs.just("stale")),
    hs.tuples(hs.just("drift")),
    hs.tuples(hs.just("api"), hs.sampled_from(["up", "error", "down"])),
    hs.tuples(hs.just("restart"), hs.booleans()),  # (crash mid-run)
    hs.tuples(hs.just("delete")),
)


@dataclass
class Scenario:
    tmp: Path
    api: FakeHostApi = field(default_factory=FakeHostApi)
    uid_count: int = 0
    generation: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    #: Content of the newest valid generation of the current Assignment.
    expected: str | None = None
    newest_valid: bool = True
    applied: dict[str, int] = field(default_factory=dict)

    @property
    def uid(self) -> str:
        return f"u{self.uid_count}"

    @property
    def conf(self) -> Path:
        return self.tmp / "root" / "app.conf"

    def check_applied(self, worker: Worker) -> None:
        """The journal and the worker never go back to an older generation of one uid."""
        origin = worker.applied
        if origin is None:
            return
        before = self.applied.get(origin.uid, 0)
        assert origin.generation >= before, (origin.generation, before)
        self.applied[origin.uid] = origin.generation


async def scenario(tmp: Path, events: list[tuple[Any, ...]]) -> None:
    s = Scenario(tmp)
    worker = new_worker(tmp, s.api)
    for event in events:
        kind = event[0]
        if kind == "generation":
            _, valid, delete = event
            if s.api.obj is None:
                s.uid_count += 1
                s.generation = 0
                s.applied.pop(s.uid, None)
            s.generation += 1
            content = f"{s.uid}-g{s.generation}"
            s.api.obj = {
                **assignment(
                    s.uid,
                    s.generation,
                    spec(tmp / "root", s.generation, content, valid=valid, delete=delete),
                ),
                "status": s.api.obj["status"] if s.api.obj else {},
            }
            s.history.append(s.api.seen())
            s.newest_valid = valid
            if valid:
                s.expected = content
            if worker.done:  # the agent makes a new worker for a re-created Assignment
                worker = new_worker(tmp, s.api)
            worker.offer(s.api.seen(), from_list=False)
        elif kind == "relist" and s.api.obj is not None:
            worker.offer(s.api.seen(), from_list=True)
        elif kind == "stale" and len(s.history) > 1:
            worker.offer(s.history[0], from_list=False)
        elif kind == "drift" and s.conf.exists():
            s.conf.write_text("tampered")
            worker.check_now()
        elif kind == "api":
            s.api.mode = event[1]
        elif kind == "restart":
            await worker.close()
            entry = worker.journal.load()
            if event[1] and entry is not None and entry.origin is not None:
                # Died mid-run: the run was journaled, not finished.
                worker.journal.record(
                    entry.resources, entry.mode, origin=entry.origin, completed=False
                )
            worker = new_worker(tmp, s.api)
            if s.api.obj is not None:
                worker.offer(s.api.seen(), from_list=True)
        elif kind == "delete" and s.api.obj is not None and not worker.done:
            s.api.obj = None
            s.history.clear()
            s.expected = None
            worker.delete()
        await asyncio.wait_for(worker.settled(), 30)
        assert worker.errors == 0
        s.check_applied(worker)
        if s.api.obj is None:
            assert worker.phase in (Phase.REMOVED, Phase.IDLE, Phase.ENFORCING)
        elif s.newest_valid:
            assert worker.phase is Phase.ENFORCING, worker.phase
        else:
            assert worker.phase in (Phase.INVALID, Phase.ENFORCING), worker.phase

    # The API comes back: everything it missed reaches it.
    s.api.mode = "up"
    if s.api.obj is not None:
        worker.offer(s.api.seen(), from_list=True)  # the re-list after reconnecting
        await asyncio.wait_for(worker.settled(), 30)
        await asyncio.wait_for(worker.pusher.flushed(), 30)
        status = s.api.status()
        assert worker.pusher.wanted is not None and st.same(status, worker.pusher.wanted)
        assert status.observed_generation == s.generation
        ready = find_condition(status.conditions, READY)
        stalled = find_condition(status.conditions, STALLED)
        assert ready is not None
        # The conditions say what the one reading of the status says.
        verdict = status.verdict()
        assert (ready.status == "True") == (verdict.state is AssignmentState.READY)
        assert (stalled is not None) == verdict.failed
        assert ready.reason == verdict.reason
        if s.newest_valid:
            assert worker.phase is Phase.ENFORCING
            assert s.conf.read_text() == s.expected
            assert ready.status == "True" and stalled is None
            assert all(r.in_desired_state for r in status.results)
        else:
            assert worker.phase is Phase.INVALID
            assert ready.status == "False" and stalled is not None
            assert stalled.reason == "InvalidSpec"
    await worker.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hs.lists(EVENTS, max_size=12))
@example([("generation", True, False), ("generation", True, False), ("stale",)])
@example([("generation", True, True), ("api", "down"), ("restart", True), ("delete",)])
@example([("generation", True, False), ("generation", False, False), ("drift",)])
def test_worker_keeps_its_invariants_under_any_sequence_of_events(
    events: list[tuple[Any, ...]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(scenario(Path(tmp), events))
