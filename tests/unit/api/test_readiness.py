"""Readiness in the API: the probe models validate as the CRD's CEL rules do, and the one
verdict reads probes and rollbacks: never Ready while probes are pending or after a rollback."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from transom.api import conditions as c
from transom.api import kstatus
from transom.api.assignment import AssignmentState, AssignmentStatus, ResourceResult
from transom.api.configuration import ConfigurationSpec
from transom.api.readiness import (
    Probe,
    Readiness,
    ReadinessState,
    ReadinessStatus,
    RollbackState,
    RollbackStatus,
)

HTTP = {"name": "site", "http": {"url": "http://127.0.0.1:8080/health"}}


def spec(**extra: Any) -> dict[str, Any]:
    return {
        "hostSelector": {"matchLabels": {"role": "web"}},
        "resources": [{"name": "d", "directory": {"path": "/srv/d"}}],
        **extra,
    }


def test_a_probe_sets_exactly_one_kind() -> None:
    assert Probe.model_validate(HTTP).kind == "http"
    with pytest.raises(ValidationError, match="set exactly one of"):
        Probe.model_validate({"name": "x"})
    with pytest.raises(ValidationError, match="set: http, tcp"):
        Probe.model_validate({**HTTP, "tcp": {"host": "h", "port": 1}})


@pytest.mark.parametrize(
    ("readiness", "message"),
    [
        ({"probes": [HTTP], "minReadySeconds": 30, "progressDeadlineSeconds": 30}, "greater"),
        ({"probes": [HTTP, HTTP]}, "unique: site"),
        ({"probes": []}, "at least 1"),
        ({"probes": [{**HTTP, "http": {"url": "ftp://x"}}]}, "url"),
        ({"probes": [{"name": "s", "http": {"url": "http://x", "bodyRegex": "("}}]}, "bodyRegex"),
        (
            {
                "probes": [
                    {
                        "name": "s",
                        "http": {"url": "http://x", "expectedStatus": {"min": 500, "max": 200}},
                    }
                ]
            },
            "min",
        ),
        ({"probes": [{"name": "c", "command": {"path": "true"}}]}, "path"),
        ({"probes": [HTTP], "periodSeconds": 0}, "periodSeconds"),
    ],
)
def test_invalid_readiness_names_the_field(readiness: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Readiness.model_validate(readiness)


def test_defaults_are_the_kubernetes_probe_defaults_and_tls_is_verified() -> None:
    r = Readiness.model_validate({"probes": [HTTP]})
    assert (r.period_seconds, r.timeout_seconds, r.success_threshold, r.failure_threshold) == (
        5,
        1,
        1,
        3,
    )
    http = r.probes[0].http
    assert http is not None and not http.insecure_skip_tls_verify
    assert (http.expected_status.min, http.expected_status.max) == (200, 399)


def test_rollback_needs_probes() -> None:
    with pytest.raises(ValidationError, match="needs readiness probes"):
        ConfigurationSpec.model_validate(spec(rollout={"rollback": {"onFailure": True}}))
    ok = ConfigurationSpec.model_validate(
        spec(rollout={"rollback": {"onFailure": True}}, readiness={"probes": [HTTP]})
    )
    assert ok.rollout.rollback.on_failure


# -- the verdict ----------------------------------------------------------------------------

RESULTS = [ResourceResult(name="d", type="Directory", in_desired_state=True)]


def readiness(
    state: ReadinessState, message: str = "probe site: connection refused"
) -> ReadinessStatus:
    return ReadinessStatus(state=state, message=message)


def rollback(state: RollbackState) -> RollbackStatus:
    return RollbackStatus(
        state=state, from_generation=2, to_generation=1, to_revision="main@sha1:aaa", message="boom"
    )


def applied(
    results: list[ResourceResult] = RESULTS,
    ready: ReadinessStatus | None = None,
    back: RollbackStatus | None = None,
) -> AssignmentStatus:
    """As the agent writes it: the run's results with the probes known at the time."""
    status = AssignmentStatus(readiness=ready, rollback=back)
    return status.with_results(results, 2, "main@sha1:bbb", finished_run=True)


def flux_view(status: AssignmentStatus) -> kstatus.Status:
    obj = {"metadata": {"generation": 2}, "status": status.model_dump(mode="json", by_alias=True)}
    return kstatus.compute(obj).status


def test_probes_pending_is_not_done_and_not_ready() -> None:
    for state in (ReadinessState.PENDING, ReadinessState.SOAKING):
        status = applied(ready=readiness(state))
        verdict = status.verdict()
        assert verdict.state is AssignmentState.PROBING and not verdict.done
        assert verdict.reason == c.PROBES_PENDING
        assert flux_view(status) is kstatus.Status.IN_PROGRESS
        assert status.applied_revision == ""  # the host does not run it, as far as anyone knows


def test_passing_probes_make_the_host_ready_at_the_revision() -> None:
    status = applied(ready=readiness(ReadinessState.READY, "2 probe(s) pass"))
    assert status.verdict().state is AssignmentState.READY
    assert status.applied_revision == "main@sha1:bbb"
    assert flux_view(status) is kstatus.Status.CURRENT


def test_probes_past_the_deadline_fail_with_their_error() -> None:
    status = applied(ready=readiness(ReadinessState.FAILED))
    verdict = status.verdict()
    assert verdict.failed and not verdict.rolled_back
    assert verdict.reason == c.PROBE_FAILED and "connection refused" in verdict.message
    assert flux_view(status) is kstatus.Status.FAILED


@pytest.mark.parametrize("state", list(RollbackState))
def test_a_rollback_is_a_failure_of_the_generation(state: RollbackState) -> None:
    status = applied(ready=readiness(ReadinessState.FAILED), back=rollback(state))
    verdict = status.verdict()
    assert verdict.failed and verdict.rolled_back and verdict.done
    assert verdict.reason == str(state)
    assert "generation 1" in verdict.message and "boom" in verdict.message
    assert flux_view(status) is kstatus.Status.FAILED


def test_a_drift_check_after_a_rollback_never_makes_it_ready() -> None:
    status = applied(
        ready=readiness(ReadinessState.FAILED), back=rollback(RollbackState.ROLLED_BACK)
    )
    checked = status.with_results(RESULTS, 2, "main@sha1:bbb", finished_run=False)
    assert checked.verdict().state is AssignmentState.ROLLED_BACK
    assert checked.applied_revision == "main@sha1:aaa"


def test_a_failed_resource_outranks_the_probes() -> None:
    broken = [ResourceResult(name="d", type="Directory", in_desired_state=False, reason="X")]
    status = applied(broken, ready=readiness(ReadinessState.READY))
    assert status.verdict().reason == c.APPLY_FAILED


readiness_st = st.one_of(st.none(), st.sampled_from(list(ReadinessState)).map(readiness))
rollback_st = st.one_of(st.none(), st.sampled_from(list(RollbackState)).map(rollback))
results_st = st.lists(
    st.builds(
        ResourceResult,
        name=st.sampled_from(["a", "b", "c"]),
        type=st.just("File"),
        in_desired_state=st.booleans(),
        reason=st.sampled_from(["", c.DRIFT_DETECTED, c.REBOOT_PENDING, c.PROVIDER_FAILED]),
    ),
    max_size=4,
)


@given(results_st, readiness_st, rollback_st)
def test_ready_only_when_probes_passed_and_nothing_rolled_back(
    results: list[ResourceResult], ready: ReadinessStatus | None, back: RollbackStatus | None
) -> None:
    status = applied(results, ready, back)
    verdict = status.verdict()
    if verdict.ready:
        assert back is None
        assert ready is None or ready.state is ReadinessState.READY
    if back is not None:
        assert verdict.failed and verdict.rolled_back
    # The conditions say what the verdict says, so kstatus (Flux) agrees with every reader.
    judged = flux_view(status)
    assert (judged is kstatus.Status.CURRENT) == (verdict.state is AssignmentState.READY)
    assert (judged is kstatus.Status.FAILED) == verdict.failed
