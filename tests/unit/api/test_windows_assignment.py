"""The maintenance windows and the drift-correction switch on their way to the host: the
Configuration's field and its validation, and the Assignment's copy, which survives the wire."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.unit.api.test_windows import windows
from transom.api.assignment import (
    Assignment,
    AssignmentSpec,
    AssignmentState,
    AssignmentStatus,
    HostMaintenance,
)
from transom.api.conditions import RECONCILING, WAITING_FOR_WINDOW, set_condition
from transom.api.configuration import ConfigurationSpec, OutsideWindows
from transom.api.gates import MaintenanceWindow
from transom.api.wire import ObjectMeta

RESOURCES = [{"name": "motd", "file": {"path": "/tmp/motd", "content": "hi\n"}}]


def configuration(**extra: Any) -> dict[str, Any]:
    return {"hostSelector": {"matchLabels": {"role": "web"}}, "resources": RESOURCES, **extra}


def test_drift_is_corrected_at_any_time_unless_said_otherwise() -> None:
    spec = ConfigurationSpec.model_validate(configuration())
    assert spec.drift_correction.outside_windows is OutsideWindows.CORRECT
    nightly = {"name": "nightly", "schedule": "0 2 * * *", "duration": "2h"}
    spec = ConfigurationSpec.model_validate(
        configuration(maintenanceWindows=[nightly], driftCorrection={"outsideWindows": "Report"})
    )
    assert spec.drift_correction.outside_windows is OutsideWindows.REPORT


def test_report_without_windows_is_refused_naming_what_is_missing() -> None:
    with pytest.raises(ValidationError, match="Report needs maintenanceWindows"):
        ConfigurationSpec.model_validate(
            configuration(driftCorrection={"outsideWindows": "Report"})
        )
    with pytest.raises(ValidationError, match="Correct"):
        ConfigurationSpec.model_validate(
            configuration(driftCorrection={"outsideWindows": "Sometimes"})
        )


@settings(max_examples=40, deadline=None)
@given(windows(), st.sampled_from(list(OutsideWindows)), st.integers(0, 7 * 24 * 3600))
def test_an_assignment_with_windows_survives_the_wire(
    ws: list[MaintenanceWindow], switch: OutsideWindows, room: int
) -> None:
    spec = AssignmentSpec.model_validate(
        {
            "host": "web01",
            "source": {"configuration": {"namespace": "d", "name": "web"}, "generation": 3},
            "resources": RESOURCES,
            "maintenance": HostMaintenance(
                windows=ws, drift_correction=switch, start_room_seconds=room
            ),
        }
    )
    obj = Assignment(spec=spec).model_dump(mode="json", by_alias=True, exclude_none=True)
    back = Assignment.model_validate(obj)
    assert back.spec == spec and back.spec.maintenance is not None
    assert obj["spec"]["maintenance"]["driftCorrection"] == switch.value
    assert [w["name"] for w in obj["spec"]["maintenance"]["windows"]] == [w.name for w in ws]


def test_an_assignment_without_windows_carries_none() -> None:
    spec = AssignmentSpec.model_validate(
        {
            "host": "web01",
            "source": {"configuration": {"namespace": "d", "name": "web"}, "generation": 1},
            "resources": RESOURCES,
        }
    )
    assert spec.maintenance is None
    assert "maintenance" not in spec.model_dump(by_alias=True, exclude_none=True)
    with pytest.raises(ValidationError, match="at least 1"):
        HostMaintenance(windows=[])


def test_waiting_for_the_window_is_read_only_of_the_very_spec_not_yet_run() -> None:
    spec = AssignmentSpec.model_validate(
        {
            "host": "web01",
            "source": {"configuration": {"namespace": "d", "name": "web"}, "generation": 2},
            "resources": RESOURCES,
        }
    )

    def held(about: int, observed: int) -> Assignment:
        conditions = set_condition(
            [], RECONCILING, "True", WAITING_FOR_WINDOW, "w", generation=about
        )
        status = AssignmentStatus(observed_generation=observed, conditions=conditions)
        return Assignment(metadata=ObjectMeta(generation=2), spec=spec, status=status)

    assert held(2, 1).waits_for_window()
    assert held(2, 1).verdict().state is AssignmentState.APPLYING
    assert not held(1, 1).waits_for_window()  # said of the spec before this one
    assert not held(2, 2).waits_for_window()  # run since
