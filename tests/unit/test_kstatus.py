"""kstatus rules, checked case by case against cli-utils' generic.go."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transom.api import conditions as c
from transom.api.kstatus import Status, compute


def obj(
    generation: int | None = 2,
    observed: int | None = 2,
    *conds: tuple[str, str],
    deleting: bool = False,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "x"}
    if generation is not None:
        meta["generation"] = generation
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    status: dict[str, Any] = {
        "conditions": [{"type": t, "status": s, "message": t} for t, s in conds]
    }
    if observed is not None:
        status["observedGeneration"] = observed
    return {"kind": "Configuration", "metadata": meta, "status": status}


@pytest.mark.parametrize(
    ("o", "expected"),
    [
        (obj(2, 2, ("Ready", "True"), deleting=True), Status.TERMINATING),
        (obj(2, 1, ("Ready", "True")), Status.IN_PROGRESS),
        (obj(1, -1), Status.IN_PROGRESS),
        (obj(2, None, ("Ready", "True")), Status.CURRENT),
        (obj(2, 2, ("Reconciling", "True"), ("Ready", "True")), Status.IN_PROGRESS),
        (obj(2, 2, ("Stalled", "True"), ("Ready", "False")), Status.FAILED),
        (obj(2, 2, ("Ready", "False")), Status.IN_PROGRESS),
        (obj(2, 2, ("Ready", "Unknown")), Status.IN_PROGRESS),
        (obj(2, 2, ("Ready", "True")), Status.CURRENT),
        (obj(2, 2), Status.CURRENT),
        ({"kind": "Configuration", "metadata": {"name": "x", "generation": 1}}, Status.CURRENT),
    ],
)
def test_kstatus_rules(o: dict[str, Any], expected: Status) -> None:
    assert compute(o).status is expected


def test_reconciling_and_stalled_exclude_each_other() -> None:
    conds = c.set_condition([], c.RECONCILING, "True", c.PROGRESSING, "rolling out")
    conds = c.set_condition(conds, c.STALLED, "True", c.ROLLOUT_HALTED, "web02 failed")
    assert [x.type for x in conds] == [c.STALLED]
    conds = c.set_condition(conds, c.RECONCILING, "True", c.PROGRESSING, "again")
    assert [x.type for x in conds] == [c.RECONCILING]


def test_transition_time_kept_while_status_unchanged() -> None:
    first = c.set_condition([], c.READY, "False", c.PROGRESSING, "a")
    stamp = first[0].last_transition_time
    again = c.set_condition(
        [first[0].model_copy(update={"last_transition_time": "2000-01-01T00:00:00Z"})],
        c.READY,
        "False",
        c.PROGRESSING,
        "b",
    )
    assert again[0].last_transition_time == "2000-01-01T00:00:00Z"
    flipped = c.set_condition(again, c.READY, "True", c.SUCCEEDED, "ok")
    assert flipped[0].last_transition_time != "2000-01-01T00:00:00Z"
    assert stamp


@given(st.integers(min_value=0, max_value=70_000))
def test_a_message_of_any_length_is_kept_within_the_condition_limit(n: int) -> None:
    """A long message (many waits, many names) is cut to metav1.Condition's limit, never
    refused: the status write that carries it must not fail over its length."""
    conds = c.set_condition([], c.READY, "False", c.PROGRESSING, "x" * n, generation=1)
    assert conds[0].message == "x" * min(n, c.MAX_MESSAGE)
