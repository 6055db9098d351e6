"""The one verdict on an Assignment's status: the writer (the agent, the test fleet) and every
reader (controller, `transom status`, `transom trace`) decide with the same rule."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from transom.api import conditions as c
from transom.api import kstatus
from transom.api.assignment import (
    Assignment,
    AssignmentState,
    AssignmentStatus,
    ResourceResult,
)
from transom.api.conditions import WAITING_REASONS, resource_failed
from transom.engine.result import ResourceOutcome, Status

REASONS = sorted(
    {*WAITING_REASONS, "", c.PROVIDER_FAILED, c.FLAPPING, c.NOT_CONVERGED, c.DENIED_BY_HOST_POLICY}
)


def result(name: str, ok: bool, reason: str = "", **kw: Any) -> ResourceResult:
    return ResourceResult(name=name, type="File", in_desired_state=ok, reason=reason, **kw)


results_st = st.lists(
    st.builds(
        result,
        name=st.sampled_from(["a", "b", "c", "d"]),
        ok=st.booleans(),
        reason=st.sampled_from(REASONS),
        drifted=st.booleans(),
        message=st.text(max_size=20),
    ),
    max_size=6,
)


def written(results: list[ResourceResult], generation: int = 3) -> AssignmentStatus:
    return AssignmentStatus().with_results(results, generation, "main@sha1:abc", finished_run=True)


@given(results_st)
def test_failed_is_one_rule(results: list[ResourceResult]) -> None:
    verdict = written(results).verdict()
    assert verdict.failed == any(r.failed for r in results)
    for r in results:
        assert r.failed == (not r.in_desired_state and r.reason not in WAITING_REASONS)


@given(results_st)
def test_the_conditions_written_say_what_the_verdict_says(results: list[ResourceResult]) -> None:
    status = written(results)
    verdict = status.verdict()
    ready = c.find_condition(status.conditions, c.READY)
    stalled = c.find_condition(status.conditions, c.STALLED)
    assert ready is not None and ready.reason == verdict.reason
    assert (ready.status == "True") == (verdict.state is AssignmentState.READY)
    assert (stalled is not None) == verdict.failed
    # kstatus (Flux) reads the same thing from the conditions alone.
    judged = kstatus.compute(
        {"metadata": {"generation": 3}, "status": status.model_dump(mode="json", by_alias=True)}
    ).status
    expected = {
        AssignmentState.READY: kstatus.Status.CURRENT,
        AssignmentState.FAILED: kstatus.Status.FAILED,
    }.get(verdict.state, kstatus.Status.IN_PROGRESS)
    assert judged is expected


@given(results_st)
def test_the_verdict_survives_the_wire(results: list[ResourceResult]) -> None:
    status = written(results)
    again = AssignmentStatus.model_validate(status.model_dump(mode="json", by_alias=True))
    assert again.verdict() == status.verdict()


@given(results_st)
def test_states_partition_the_results(results: list[ResourceResult]) -> None:
    verdict = written(results).verdict()
    out = [r for r in results if not r.in_desired_state]
    if verdict.state is AssignmentState.READY:
        assert not out
    elif verdict.state is AssignmentState.DRIFTED:
        assert all(r.reason in WAITING_REASONS for r in out)
        assert any(r.reason == c.DRIFT_DETECTED for r in out)
    elif verdict.state is AssignmentState.WAITING:
        assert out and all(r.reason in WAITING_REASONS - {c.DRIFT_DETECTED} for r in out)
    else:
        assert verdict.state is AssignmentState.FAILED
        first = next(r for r in results if r.failed)
        assert verdict.resource == first.name and verdict.detail == first.message
    assert verdict.ready == (verdict.state in (AssignmentState.READY, AssignmentState.DRIFTED))
    assert verdict.done == (verdict.ready or verdict.failed)


def test_a_waiting_resource_listed_first_is_not_named_as_the_failure() -> None:
    verdict = written(
        [
            result("reboot", False, c.REBOOT_PENDING, message="after a reboot"),
            result("skipped", False, c.DEPENDENCY_NOT_READY, skipped=True),
            result("broken", False, c.PROVIDER_FAILED, message="disk full"),
        ]
    ).verdict()
    assert verdict.failed and verdict.resource == "broken" and verdict.detail == "disk full"
    assert verdict.reason == c.APPLY_FAILED


def test_flapping_fails_with_its_own_reason() -> None:
    verdict = written([result("a", False, c.FLAPPING, drifted=True)]).verdict()
    assert verdict.failed and verdict.reason == c.FLAPPING


def test_an_unobserved_status_is_applying() -> None:
    assert AssignmentStatus().verdict().state is AssignmentState.APPLYING


def test_a_run_in_progress_is_applying() -> None:
    status = written([result("a", True)])
    status = status.model_copy(
        update={
            "conditions": c.set_condition(
                status.conditions, c.RECONCILING, "True", c.PROGRESSING, "applying generation 4"
            )
        }
    )
    verdict = status.verdict()
    assert verdict.state is AssignmentState.APPLYING and verdict.message == "applying generation 4"


def test_an_invalid_spec_is_failed_whatever_the_old_results() -> None:
    status = written([result("a", True)])
    conds = c.set_condition(status.conditions, c.STALLED, "True", c.INVALID_SPEC, "bad spec")
    verdict = status.model_copy(update={"conditions": conds}).verdict()
    assert verdict.failed and verdict.reason == c.INVALID_SPEC and verdict.message == "bad spec"


def _assignment(status: AssignmentStatus, generation: int) -> Assignment:
    return Assignment.model_validate(
        {
            "apiVersion": "transom.dev/v1alpha1",
            "kind": "Assignment",
            "metadata": {
                "name": "default.web",
                "namespace": "transom-host-a",
                "generation": generation,
            },
            "spec": {
                "host": "a",
                "source": {
                    "configuration": {"namespace": "default", "name": "web"},
                    "generation": 1,
                },
                "resources": [],
            },
            "status": status.model_dump(mode="json", by_alias=True),
        }
    )


def test_an_assignment_whose_status_speaks_of_an_older_spec_is_applying() -> None:
    status = written([result("a", True)], generation=2)
    assert _assignment(status, 2).verdict().state is AssignmentState.READY
    behind = _assignment(status, 3)
    assert not behind.caught_up() and behind.verdict().state is AssignmentState.APPLYING


@given(
    st.sampled_from(list(Status)),
    st.booleans(),
    st.sampled_from(REASONS),
)
def test_engine_outcomes_fail_by_the_same_rule(status: Status, ok: bool, reason: str) -> None:
    outcome = ResourceOutcome(
        name="a", kind="File", status=status, in_desired_state=ok, reason=reason
    )
    assert outcome.failed == outcome.to_result().failed == resource_failed(ok, reason)


def test_transom_status_spells_every_state() -> None:
    from transom.cli import status

    assert set(status.COLOURS) == {str(s) for s in AssignmentState}
