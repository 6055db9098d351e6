"""The agent's window gate: what the controller copies into the Assignment evaluates, on the
host, exactly as the controller evaluates the Configuration's windows (one rule,
`transom.api.windows`); drift is corrected exactly while changes are allowed, and the mode
changes exactly at the moment the gate names; the windows survive on disk."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.api.test_windows import moments, windows
from transom.agent import window_gate
from transom.agent.window_gate import WindowGate
from transom.api.assignment import HostMaintenance
from transom.api.configuration import Mode, OutsideWindows
from transom.api.gates import MaintenanceWindow
from transom.api.windows import allowed_at, evaluate, host_windows
from transom.api.wire import LabelSelector

ROLES = ["web", "db"]


@st.composite
def labelled_windows(draw: st.DrawFn) -> list[MaintenanceWindow]:
    """Windows, some for hosts of one role only."""
    return [
        w.model_copy(
            update={
                "host_selector": draw(
                    st.one_of(
                        st.none(),
                        st.builds(
                            lambda r: LabelSelector(match_labels={"role": r}),
                            st.sampled_from(ROLES),
                        ),
                    )
                )
            }
        )
        for w in draw(windows())
    ]


def through_the_assignment(
    ws: list[MaintenanceWindow], labels: dict[str, str], report: bool, room: int
) -> WindowGate | None:
    """What the agent gets: the host's windows as the controller copies them, over the wire."""
    own = host_windows(ws, labels)
    if not own:
        return None
    sent = HostMaintenance(
        windows=own,
        drift_correction=OutsideWindows.REPORT if report else OutsideWindows.CORRECT,
        start_room_seconds=room,
    ).model_dump_json(by_alias=True, exclude_none=True)
    return WindowGate.of(HostMaintenance.model_validate_json(sent))


@settings(max_examples=80, deadline=None)
@given(
    labelled_windows(),
    st.sampled_from(ROLES),
    moments,
    st.sampled_from([0, 900, 3600]),
)
def test_the_agent_decides_as_the_controller_does(
    ws: list[MaintenanceWindow], role: str, t: datetime, room: int
) -> None:
    labels = {"role": role}
    controller = evaluate(ws, labels, t, room=timedelta(seconds=room))
    gate = through_the_assignment(ws, labels, report=False, room=room)
    agent = gate.may_start(t) if gate is not None else controller
    assert agent == controller
    if gate is None:
        assert controller.open and controller.closes_at is None


@settings(max_examples=60, deadline=None)
@given(windows(), moments, st.lists(st.floats(0, 1), max_size=4))
def test_drift_is_corrected_exactly_while_changes_are_allowed(
    ws: list[MaintenanceWindow], t: datetime, fractions: list[float]
) -> None:
    gate = through_the_assignment(ws, {}, report=True, room=0)
    assert gate is not None
    mode, change = gate.drift_mode(Mode.APPLY_AND_AUTO_CORRECT, t)
    allowed = allowed_at(gate.spans, t)
    assert (mode is Mode.APPLY_AND_AUTO_CORRECT) == allowed
    assert mode is (Mode.APPLY_AND_AUTO_CORRECT if allowed else Mode.APPLY_AND_MONITOR)
    if change is None:
        return
    assert change > t
    # The same mode up to the moment named, the other one from it.
    for f in fractions:
        between = t + (change - t) * f
        if between < change:
            assert window_gate.effective_mode(gate, Mode.APPLY_AND_AUTO_CORRECT, between) is mode
    assert window_gate.effective_mode(gate, Mode.APPLY_AND_AUTO_CORRECT, change) is not mode
    wait = window_gate.next_look(gate, Mode.APPLY_AND_AUTO_CORRECT, t)
    assert wait is not None and 0 <= wait <= window_gate.RECHECK_SECONDS


@settings(max_examples=30, deadline=None)
@given(windows(), moments, st.sampled_from([Mode.APPLY_ONLY, Mode.APPLY_AND_MONITOR]))
def test_the_switch_changes_nothing_but_auto_correct_under_report(
    ws: list[MaintenanceWindow], t: datetime, mode: Mode
) -> None:
    report = through_the_assignment(ws, {}, report=True, room=0)
    correct = through_the_assignment(ws, {}, report=False, room=0)
    assert report is not None and correct is not None
    assert report.drift_mode(mode, t) == (mode, None)
    assert correct.drift_mode(Mode.APPLY_AND_AUTO_CORRECT, t) == (Mode.APPLY_AND_AUTO_CORRECT, None)
    assert window_gate.next_look(correct, Mode.APPLY_AND_AUTO_CORRECT, t) is None
    assert window_gate.effective_mode(None, Mode.APPLY_AND_AUTO_CORRECT, t) is (
        Mode.APPLY_AND_AUTO_CORRECT
    )


def test_the_windows_survive_on_disk_and_a_bad_file_is_no_windows(tmp_path: Path) -> None:
    gate = through_the_assignment(
        [MaintenanceWindow(name="nightly", schedule="0 2 * * *", duration="2h")],
        {},
        report=True,
        room=900,
    )
    assert gate is not None
    window_gate.save(tmp_path / "a", gate)
    assert window_gate.load(tmp_path / "a") == gate
    window_gate.save(tmp_path / "a", None)
    assert window_gate.load(tmp_path / "a") is None
    (tmp_path / "a" / window_gate.WINDOWS_FILE).write_text('{"windows": []}')
    assert window_gate.load(tmp_path / "a") is None
