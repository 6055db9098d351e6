"""The controller's rollout metrics, driven through the same aggregation the reconciler runs:
host states add up, a rollout is measured once when every host is Ready, its start shows only
while it is in progress, and a deleted Configuration leaves no series behind."""

from __future__ import annotations

from hypothesis import given

from tests.unit.controller.fleets import GENERATION, fleets, view
from transom.api import conditions as c
from transom.api.configuration import ConfigurationStatus
from transom.controller.hostview import HostView
from transom.controller.metrics import (
    CONFIGURATION_HOSTS,
    CONFIGURATION_STALLED,
    ROLLOUT_DURATION,
    ROLLOUT_START,
    ROLLOUT_WAITING,
    ControllerMetrics,
    HostState,
    host_state,
)
from transom.controller.rollout import plan
from transom.controller.status import aggregate, stalled

KEY = ("default", "web-farm")
LABELS = {"namespace": "default", "configuration": "web-farm"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def status_of(hosts: list[HostView], generation: int = GENERATION) -> ConfigurationStatus:
    p = plan(generation, hosts, [], 1, 0)
    return aggregate(ConfigurationStatus(), generation, "", hosts, p)


def reconciled(m: ControllerMetrics, hosts: list[HostView], generation: int = GENERATION) -> None:
    m.rollout(KEY, generation, hosts, status_of(hosts, generation))


def sample(m: ControllerMetrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def metrics() -> tuple[ControllerMetrics, Clock]:
    clock = Clock()
    return ControllerMetrics(clock=clock, wall_clock=lambda: clock.now + 1.7e9), clock


@given(fleets())
def test_each_host_is_in_exactly_one_state_and_they_add_up(hosts: list[HostView]) -> None:
    m, _ = metrics()
    reconciled(m, hosts)
    counts = {s: sample(m, CONFIGURATION_HOSTS, state=s.value, **LABELS) for s in HostState}
    assert all(v is not None for v in counts.values())  # zeros are shown, not left out
    assert sum(v or 0 for v in counts.values()) == len(hosts)
    offline = sum(not h.online for h in hosts)
    assert counts[HostState.OFFLINE] == offline
    ready = sum(h.online and h.succeeded(GENERATION) for h in hosts)
    assert (counts[HostState.READY] or 0) + (counts[HostState.DRIFTED] or 0) == ready


def test_host_states() -> None:
    assert host_state(view("a", False, "ready"), GENERATION) is HostState.OFFLINE
    assert host_state(view("a", True, "ready"), GENERATION) is HostState.READY
    drifted = HostView("a", True, GENERATION, GENERATION, ready=True, drifted=2)
    assert host_state(drifted, GENERATION) is HostState.DRIFTED
    assert host_state(view("a", True, "failed"), GENERATION) is HostState.FAILED
    assert host_state(view("a", True, "applying"), GENERATION) is HostState.UPDATING
    assert host_state(view("a", True, "old"), GENERATION) is HostState.PENDING
    assert host_state(view("a", True, "none"), GENERATION) is HostState.PENDING


def test_a_rollout_is_measured_once_from_first_sight_to_every_host_ready() -> None:
    m, clock = metrics()
    reconciled(m, [view("a", True, "old"), view("b", True, "old")])
    assert sample(m, ROLLOUT_START, **LABELS) == 1000.0 + 1.7e9  # in progress, since now
    assert sample(m, ROLLOUT_DURATION + "_count") == 0

    clock.now += 30
    reconciled(m, [view("a", True, "ready"), view("b", True, "applying")])
    assert sample(m, ROLLOUT_DURATION + "_count") == 0
    assert sample(m, ROLLOUT_START, **LABELS) == 1000.0 + 1.7e9  # the start does not move

    clock.now += 45
    everyone = [view("a", True, "ready"), view("b", True, "ready")]
    reconciled(m, everyone)
    assert sample(m, ROLLOUT_DURATION + "_count") == 1
    assert sample(m, ROLLOUT_DURATION + "_sum") == 75
    assert sample(m, ROLLOUT_DURATION + "_bucket", le="120.0") == 1
    assert sample(m, ROLLOUT_DURATION + "_bucket", le="60.0") == 0
    assert sample(m, ROLLOUT_START, **LABELS) is None  # done: no start left to alert on

    # Status echoes and a host going away and back re-reconcile: still one measurement.
    reconciled(m, everyone)
    reconciled(m, [view("a", False, "ready"), view("b", True, "ready")])
    reconciled(m, everyone)
    assert sample(m, ROLLOUT_DURATION + "_count") == 1

    # The next generation is a new rollout.
    clock.now += 100
    reconciled(m, [view("a", True, "ready"), view("b", True, "ready")], GENERATION + 1)
    assert sample(m, ROLLOUT_START, **LABELS) == 1175.0 + 1.7e9
    nxt = [view("a", True, "ready", GENERATION + 1), view("b", True, "ready", GENERATION + 1)]
    clock.now += 10
    reconciled(m, nxt, GENERATION + 1)
    assert sample(m, ROLLOUT_DURATION + "_count") == 2
    assert sample(m, ROLLOUT_DURATION + "_sum") == 85


def test_a_rollout_found_finished_after_a_restart_is_not_measured() -> None:
    """Its start was never seen: any number would be made up."""
    m, _ = metrics()
    reconciled(m, [view("a", True, "ready"), view("b", True, "ready")])
    assert sample(m, ROLLOUT_DURATION + "_count") == 0
    assert sample(m, ROLLOUT_START, **LABELS) is None


def test_a_halted_rollout_is_stalled_not_in_progress() -> None:
    m, _ = metrics()
    hosts = [view("a", True, "failed"), view("b", True, "old")]
    status = status_of(hosts)
    assert c.find_condition(status.conditions, c.STALLED) is not None
    m.rollout(KEY, GENERATION, hosts, status)
    assert sample(m, CONFIGURATION_STALLED, **LABELS) == 1
    assert sample(m, ROLLOUT_START, **LABELS) is None
    assert sample(m, ROLLOUT_DURATION + "_count") == 0

    fixed = [view("a", True, "ready"), view("b", True, "ready")]
    reconciled(m, fixed)
    assert sample(m, CONFIGURATION_STALLED, **LABELS) == 0
    assert sample(m, ROLLOUT_DURATION + "_count") == 1


def test_an_unusable_spec_is_stalled_and_keeps_the_host_counts() -> None:
    m, _ = metrics()
    reconciled(m, [view("a", True, "old")])
    assert sample(m, ROLLOUT_START, **LABELS) is not None
    bad = stalled(ConfigurationStatus(), GENERATION + 1, c.INVALID_SPEC, "bad")
    m.rollout(KEY, GENERATION + 1, None, bad)
    assert sample(m, CONFIGURATION_STALLED, **LABELS) == 1
    assert sample(m, CONFIGURATION_HOSTS, state="pending", **LABELS) == 1
    # Halted by its spec: the stall alert is the one to fire, not "still rolling out".
    assert sample(m, ROLLOUT_START, **LABELS) is None


def test_a_deleted_configuration_leaves_no_series() -> None:
    m, _ = metrics()
    other = ("default", "other")
    reconciled(m, [view("a", True, "old")])
    m.rollout(other, 1, [view("a", True, "none")], status_of([view("a", True, "none")], 1))
    m.forget(KEY)
    exposed = {tuple(sorted(s.labels.items())) for fam in m.registry.collect() for s in fam.samples}
    assert not any(("configuration", "web-farm") in labels for labels in exposed)
    assert any(("configuration", "other") in labels for labels in exposed)


def gated(reason: str) -> ConfigurationStatus:
    conds = c.set_condition([], c.RECONCILING, "True", reason, "waits", generation=GENERATION)
    conds = c.set_condition(conds, c.READY, "False", reason, "waits", generation=GENERATION)
    return ConfigurationStatus(conditions=conds)


def test_a_rollout_held_by_a_gate_is_waiting_not_stalled() -> None:
    """Waiting for an approval or a window is on purpose: no start to alert on meanwhile, and
    progress is measured again from the moment the gate opens; the duration spans it all."""
    m, clock = metrics()
    first_wave = [view("a", True, "ready"), view("b", True, "old")]
    reconciled(m, first_wave)
    assert sample(m, ROLLOUT_START, **LABELS) == 1000.0 + 1.7e9

    clock.now += 60
    m.rollout(KEY, GENERATION, first_wave, gated(c.WAITING_FOR_APPROVAL))
    assert sample(m, ROLLOUT_START, **LABELS) is None
    assert sample(m, ROLLOUT_WAITING, reason=c.WAITING_FOR_APPROVAL, **LABELS) == 1

    clock.now += 7200
    m.rollout(KEY, GENERATION, first_wave, gated(c.WAITING_FOR_WINDOW))
    assert sample(m, ROLLOUT_WAITING, reason=c.WAITING_FOR_APPROVAL, **LABELS) is None
    assert sample(m, ROLLOUT_WAITING, reason=c.WAITING_FOR_WINDOW, **LABELS) == 1

    clock.now += 60
    reconciled(m, [view("a", True, "ready"), view("b", True, "applying")])
    assert sample(m, ROLLOUT_START, **LABELS) == 8320.0 + 1.7e9  # from the gate's opening
    assert sample(m, ROLLOUT_WAITING, reason=c.WAITING_FOR_WINDOW, **LABELS) is None

    clock.now += 30
    reconciled(m, [view("a", True, "ready"), view("b", True, "ready")])
    assert sample(m, ROLLOUT_DURATION + "_sum") == 7350  # commit to every host, gates included
