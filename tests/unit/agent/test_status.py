"""Assignment status from engine reports: conditions as kstatus reads them."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given
from hypothesis import strategies as hst

from tests.unit.api.test_names import subdomains
from transom.agent import status as st
from transom.api import kstatus, names
from transom.api.assignment import AssignmentStatus
from transom.api.errors import FieldError, SpecError
from transom.engine.result import Action, ResourceOutcome, RunReport, Status


def outcome(name: str, status: Status, ok: bool, **kw: Any) -> ResourceOutcome:
    return ResourceOutcome(name=name, kind="File", status=status, in_desired_state=ok, **kw)


def report(*outcomes: ResourceOutcome) -> RunReport:
    return RunReport(action=Action.APPLY, results=outcomes, duration_ms=1.0)


def judged(status: AssignmentStatus, generation: int) -> kstatus.Status:
    obj = {"metadata": {"generation": generation}, "status": st.wire(status)}
    return kstatus.compute(obj).status


def test_in_progress_then_succeeded() -> None:
    s = st.in_progress(AssignmentStatus(), 3, "main@sha1:abc")
    assert judged(s, 3) is kstatus.Status.IN_PROGRESS
    assert s.observed_generation == -1  # a crash now must not look applied
    s = st.applied(s, 3, "main@sha1:abc", report(outcome("a", Status.CHANGED, True, changed=True)))
    assert judged(s, 3) is kstatus.Status.CURRENT
    assert s.observed_generation == 3 and s.applied_revision == "main@sha1:abc"
    assert [c.type for c in s.conditions] == ["Ready"]


def test_failure_stalls_naming_the_first_failing_resource() -> None:
    s = st.applied(
        AssignmentStatus(),
        1,
        "r1",
        report(
            outcome("ok", Status.OK, True),
            outcome("bad", Status.FAILED, False, reason="ProviderFailed", message="disk full"),
            outcome("dep", Status.SKIPPED, False, skipped=True, reason="DependencyNotReady"),
        ),
    )
    assert judged(s, 1) is kstatus.Status.FAILED
    stalled = next(c for c in s.conditions if c.type == "Stalled")
    assert stalled.reason == "ApplyFailed"
    assert "bad (File)" in stalled.message and "disk full" in stalled.message
    assert s.applied_revision == ""  # only a successful run moves the revision


def test_invalid_spec_is_observed_and_stalled() -> None:
    s = st.invalid(AssignmentStatus(), 2, SpecError([FieldError("spec.resources[0]", "nope")]))
    assert s.observed_generation == 2
    assert judged(s, 2) is kstatus.Status.FAILED


def test_check_with_same_findings_changes_nothing() -> None:
    base = st.applied(AssignmentStatus(), 1, "r", report(outcome("a", Status.CHANGED, True)))
    drift = outcome("a", Status.DRIFTED, False, drifted=True, reason="DriftDetected")
    once = st.checked(base, 1, "r", report(drift))
    again = st.checked(once, 1, "r", report(drift))
    assert once.drifted == 1 and judged(once, 1) is kstatus.Status.IN_PROGRESS
    assert st.same(once, again)


def test_event_carries_no_more_than_the_note() -> None:
    obj = {"metadata": {"name": "default.web", "namespace": "transom-host-a", "uid": "u"}}
    e = st.event("a", obj, warning=True, reason="ApplyFailed", action="Apply", note="x" * 5000)
    assert e["type"] == "Warning" and len(e["note"]) == st.EVENT_NOTE_MAX
    assert e["metadata"]["name"].startswith("default.web.")
    assert e["regarding"]["kind"] == "Assignment"


_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


#: Assignment names of any length up to the longest the apiserver admits.
assignment_names = hst.one_of(
    subdomains, subdomains.map(lambda s: f"{s}.{'x' * names.MAX_NAME}"[: names.MAX_NAME])
)


@given(assignment_names)
def test_event_name_is_valid_for_every_assignment_name(name: str) -> None:
    # Defect: a 253-character Assignment name gave an Event name the apiserver rejects.
    obj = {"metadata": {"name": name, "namespace": "transom-host-a"}}
    e = st.event("a", obj, warning=False, reason="Applied", action="Apply", note="")
    event_name = e["metadata"]["name"]
    assert len(event_name.encode()) <= names.MAX_NAME and _SUBDOMAIN.match(event_name)
    assert e["regarding"]["name"] == name


def test_the_longest_assignment_name_gives_a_valid_event_name() -> None:
    obj = {"metadata": {"name": "a" * names.MAX_NAME, "namespace": "transom-host-a"}}
    e = st.event("a", obj, warning=False, reason="Applied", action="Apply", note="")
    assert len(e["metadata"]["name"]) <= names.MAX_NAME
