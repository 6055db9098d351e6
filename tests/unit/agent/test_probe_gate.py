"""The readiness gate's threshold logic, against a reference reading of the Kubernetes rules:
successThreshold consecutive successes to pass, failureThreshold consecutive failures to stop
passing, minReadySeconds of every probe passing without a break, progressDeadlineSeconds."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from transom.agent.probes.gate import Gate
from transom.api.readiness import Readiness, ReadinessState

NAMES = ("a", "b")


def readiness(success: int, failure: int, period: int, soak: int, deadline: int) -> Readiness:
    return Readiness.model_validate(
        {
            "probes": [{"name": n, "tcp": {"host": "127.0.0.1", "port": 1}} for n in NAMES],
            "periodSeconds": period,
            "successThreshold": success,
            "failureThreshold": failure,
            "minReadySeconds": soak,
            "progressDeadlineSeconds": deadline,
        }
    )


def passing_after(attempts: list[bool], success: int, failure: int) -> bool:
    """The reference: passing once ``success`` successes in a row were seen, and not since
    followed by ``failure`` failures in a row."""
    passing, run_ok, run_bad = False, 0, 0
    for ok in attempts:
        run_ok, run_bad = (run_ok + 1, 0) if ok else (0, run_bad + 1)
        if run_ok >= success:
            passing = True
        if run_bad >= failure:
            passing = False
    return passing


settings = st.tuples(
    st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(0, 6), st.integers(1, 30)
).filter(lambda t: t[4] > t[3])
rounds = st.lists(st.tuples(st.booleans(), st.booleans()), max_size=25)


@given(settings, rounds)
def test_the_gate_follows_the_reference_and_settles_by_the_rules(
    params: tuple[int, int, int, int, int], outcomes: list[tuple[bool, bool]]
) -> None:
    success, failure, period, soak, deadline = params
    r = readiness(success, failure, period, soak, deadline)
    gate = Gate.start(r, 0.0)
    history: dict[str, list[bool]] = {n: [] for n in NAMES}
    all_since: float | None = None
    for i, pair in enumerate(outcomes):
        now = float(i * period)
        before = gate
        gate = gate.observe(now, {n: (ok, "x") for n, ok in zip(NAMES, pair, strict=True)})
        if before.settled:
            assert gate == before  # a settled gate does not move
            continue
        for n, ok in zip(NAMES, pair, strict=True):
            history[n].append(ok)
            assert gate.probes[n].passing == passing_after(history[n], success, failure)
        every = all(gate.probes[n].passing for n in NAMES)
        all_since = (all_since if all_since is not None else now) if every else None
        if gate.state is ReadinessState.READY:
            assert all_since is not None and now - all_since >= soak
        elif gate.state is ReadinessState.FAILED:
            assert now >= deadline
            assert all_since is None or now - all_since < soak
        elif gate.state is ReadinessState.SOAKING:
            assert all_since is not None and now < deadline
        else:
            assert all_since is None and now < deadline


@given(settings)
def test_probes_that_always_pass_are_ready_as_soon_as_the_rules_allow(
    params: tuple[int, int, int, int, int],
) -> None:
    success, failure, period, soak, deadline = params
    gate = Gate.start(readiness(success, failure, period, soak, deadline), 0.0)
    t = 0.0
    while True:
        gate = gate.observe(t, {n: (True, "ok") for n in NAMES})
        if gate.settled:
            break
        t += period

    def first_round(at_least: int) -> int:
        return -(-at_least // period) * period

    # Every probe passes at the round of its successThreshold-th success; Ready is seen at
    # the first round after the soak, unless the deadline's round comes first.
    ready_at = first_round((success - 1) * period + soak)
    failed_at = first_round(deadline)
    if ready_at <= failed_at:
        assert (gate.state, t) == (ReadinessState.READY, ready_at)
    else:
        assert (gate.state, t) == (ReadinessState.FAILED, failed_at)


def test_the_deadline_fails_a_probe_that_never_passes_and_says_why() -> None:
    r = readiness(1, 1, 1, 0, 3)
    gate = Gate.start(r, 10.0)
    for t in (10.0, 11.0, 12.0):
        gate = gate.observe(t, {"a": (True, "ok"), "b": (False, "returned 500")})
        assert gate.state is ReadinessState.PENDING
    gate = gate.observe(13.0, {"a": (True, "ok"), "b": (False, "returned 500")})
    assert gate.state is ReadinessState.FAILED
    assert "probe b: returned 500" in gate.message() and "probe a" not in gate.message()


def test_a_break_restarts_the_soak() -> None:
    r = readiness(1, 1, 1, 3, 60)
    gate = Gate.start(r, 0.0).observe(0.0, {"a": (True, ""), "b": (True, "")})
    assert gate.state is ReadinessState.SOAKING
    gate = gate.observe(2.0, {"a": (False, "down"), "b": (True, "")})
    assert gate.state is ReadinessState.PENDING and gate.passing_since is None
    gate = gate.observe(3.0, {"a": (True, ""), "b": (True, "")})
    assert gate.at(5.9).state is ReadinessState.SOAKING
    assert gate.at(6.0).state is ReadinessState.READY
