"""The journal keeps the last desired state that was Ready on the host, which is what a
rollback returns to, from disk alone (offline, after a restart)."""

from __future__ import annotations

from pathlib import Path

from transom.api.assignment import AssignmentSource
from transom.api.configuration import Mode
from transom.engine.journal import AssignmentOrigin, Journal

from .helpers import doc, file


def origin(generation: int) -> AssignmentOrigin:
    return AssignmentOrigin(
        uid="u-1",
        generation=generation,
        source=AssignmentSource.model_validate(
            {
                "configuration": {"namespace": "default", "name": "web"},
                "generation": generation,
                "revision": f"main@sha1:{generation}",
            }
        ),
    )


def test_only_a_finished_run_becomes_the_last_ready_state_and_it_survives_restarts(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path / "state")
    assert journal.last_ready() is None
    v1 = doc(file("conf", tmp_path / "app.conf", content="v1"))
    journal.record(v1, Mode.APPLY_AND_AUTO_CORRECT, origin=origin(1), completed=False)
    assert journal.mark_ready() is None  # cut short: never a rollback target
    journal.record(v1, Mode.APPLY_AND_AUTO_CORRECT, origin=origin(1))
    assert journal.mark_ready() is not None

    v2 = doc(file("conf", tmp_path / "app.conf", content="v2"))
    journal.record(v2, Mode.APPLY_AND_MONITOR, origin=origin(2))
    ready = Journal(tmp_path / "state").last_ready()  # a new agent process reads the file
    assert ready is not None and ready.origin == origin(1)
    assert ready.resources == tuple(v1) and ready.mode is Mode.APPLY_AND_AUTO_CORRECT


def test_a_rolled_back_entry_remembers_the_failed_generation_and_is_never_a_target(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path / "state")
    v1 = doc(file("conf", tmp_path / "app.conf", content="v1"))
    journal.record(v1, Mode.APPLY_AND_AUTO_CORRECT, origin=origin(1))
    journal.mark_ready()
    journal.record(v1, Mode.APPLY_AND_AUTO_CORRECT, origin=origin(2), rolled_back_to=origin(1))
    entry = Journal(tmp_path / "state").load()
    assert entry is not None
    assert entry.origin == origin(2) and entry.rolled_back_to == origin(1)
    assert journal.mark_ready() is None
    last = journal.last_ready()
    assert last is not None and last.origin == origin(1)
