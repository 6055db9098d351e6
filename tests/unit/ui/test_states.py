"""The one rule from API reasons to the page's colours: known reasons by name, later ones by
family, and every verdict (whatever new state it names) to some colour."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from transom.api import conditions as c
from transom.api.assignment import AssignmentState, Verdict
from transom.api.conditions import Condition
from transom.ui.states import CellState, state_of_conditions, state_of_reason, state_of_verdict

NOW = "2026-12-01T00:00:00Z"
reason_tail = st.text(alphabet=st.characters(whitelist_categories=("Lu", "Ll")), max_size=20)


def cond(kind: str, status: str, reason: str) -> Condition:
    return Condition(type=kind, status=status, reason=reason, message="", last_transition_time=NOW)


def test_known_reasons() -> None:
    assert state_of_reason(c.SUCCEEDED) is CellState.READY
    assert state_of_reason(c.APPLY_FAILED) is CellState.FAILED
    assert state_of_reason(c.ROLLOUT_HALTED) is CellState.FAILED
    assert state_of_reason(c.DRIFT_DETECTED) is CellState.DRIFTED
    assert state_of_reason(c.REBOOT_PENDING) is CellState.WAITING
    assert state_of_reason(c.ROLLOUT_IN_PROGRESS) is CellState.UPDATING
    assert state_of_reason("SomethingElse") is None


def test_reasons_added_this_session_map_by_family() -> None:
    for reason in ("WaitingForApproval", "WaitingForWindow", "WaitingForRebootBudget"):
        assert state_of_reason(reason) is CellState.WAITING
    for reason in ("ProbeFailed", "RolledBack", "RollingBack"):
        assert state_of_reason(reason) is CellState.FAILED


@given(reason_tail)
def test_any_waiting_reason_waits(tail: str) -> None:
    assert state_of_reason("Waiting" + tail) is CellState.WAITING


@given(st.sampled_from(list(AssignmentState)), reason_tail, st.booleans())
def test_every_verdict_has_a_colour(state: AssignmentState, reason: str, _: bool) -> None:
    got = state_of_verdict(Verdict(state, reason, ""))
    assert got in CellState and got is not CellState.OFFLINE  # offline is the Host's to say
    verdict = Verdict(state, reason, "")
    if state_of_reason(reason) is None:
        if verdict.failed:
            assert got is CellState.FAILED
        elif verdict.ready and state is AssignmentState.READY:
            assert got is CellState.READY


def test_configuration_state_from_its_conditions() -> None:
    assert state_of_conditions([cond("Ready", "True", c.SUCCEEDED)]) is CellState.READY
    waiting = [cond("Ready", "False", "WaitingForApproval")]
    assert state_of_conditions(waiting) is CellState.WAITING
    halted = [cond("Ready", "False", c.ROLLOUT_HALTED), cond("Stalled", "True", c.ROLLOUT_HALTED)]
    assert state_of_conditions(halted) is CellState.FAILED
    rolling = [
        cond("Ready", "False", c.PROGRESSING),
        cond("Reconciling", "True", c.ROLLOUT_IN_PROGRESS),
    ]
    assert state_of_conditions(rolling) is CellState.UPDATING
    assert state_of_conditions([]) is CellState.UPDATING
