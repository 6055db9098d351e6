"""HostView from a typed Assignment, with the one verdict."""

from __future__ import annotations

from transom.api import conditions as c
from transom.api.assignment import Assignment, AssignmentStatus, ResourceResult
from transom.controller.hostview import HostView


def assignment(status: AssignmentStatus, *, generation: int = 2, source: int = 7) -> Assignment:
    return Assignment.model_validate(
        {
            "metadata": {"name": "d.web", "namespace": "transom-host-a", "generation": generation},
            "spec": {
                "host": "a",
                "source": {
                    "configuration": {"namespace": "d", "name": "web"},
                    "generation": source,
                },
                "resources": [],
            },
            "status": status.model_dump(mode="json", by_alias=True),
        }
    )


def reported(*results: ResourceResult, generation: int = 2) -> AssignmentStatus:
    return AssignmentStatus().with_results(list(results), generation, "r", finished_run=True)


def r(name: str, ok: bool, reason: str = "", message: str = "") -> ResourceResult:
    return ResourceResult(
        name=name, type="File", in_desired_state=ok, reason=reason, message=message
    )


def test_the_failure_named_is_the_failed_resource_not_a_waiting_one() -> None:
    status = reported(
        r("reboot", False, c.REBOOT_PENDING, "after a reboot"),
        r("broken", False, c.PROVIDER_FAILED, "disk full"),
    )
    v = HostView.from_assignment("a", True, assignment(status))
    assert v.failed(7) and v.failure is not None
    assert (v.failure.resource, v.failure.message) == ("broken", "disk full")


def test_drift_only_reported_still_runs_the_generation() -> None:
    status = reported(r("motd", False, c.DRIFT_DETECTED, "differs"))
    v = HostView.from_assignment("a", True, assignment(status))
    assert v.succeeded(7) and v.failure is None


def test_a_status_of_an_older_spec_is_not_applied() -> None:
    status = reported(r("motd", True), generation=1)
    v = HostView.from_assignment("a", True, assignment(status, generation=2))
    assert v.at(7) and not v.done(7) and v.applied is None


def test_waiting_for_a_reboot_is_not_done() -> None:
    v = HostView.from_assignment("a", True, assignment(reported(r("x", False, c.REBOOT_PENDING))))
    assert v.at(7) and not v.done(7)


def test_no_assignment() -> None:
    v = HostView.from_assignment("a", False, None)
    assert v.assigned is None and not v.online
