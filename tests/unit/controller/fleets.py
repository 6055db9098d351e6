"""Host views in every state the controller can meet, for the pure rollout and status rules."""

from __future__ import annotations

from hypothesis import strategies as st

from transom.controller.hostview import Failure, HostView
from transom.controller.rollout import Stage

GENERATION = 5

#: What a host's Assignment says about the generation being rolled out.
STATES = ("none", "old", "applying", "ready", "failed")


def view(name: str, online: bool, state: str, generation: int = GENERATION) -> HostView:
    if state == "none":
        return HostView(name=name, online=online)
    if state == "old":
        return HostView(name=name, online=online, assigned=generation - 1, applied=generation - 1)
    if state == "applying":
        return HostView(name=name, online=online, assigned=generation)
    if state == "ready":
        return HostView(
            name=name, online=online, assigned=generation, applied=generation, ready=True
        )
    return HostView(
        name=name,
        online=online,
        assigned=generation,
        applied=generation,
        failure=Failure("motd", "ApplyFailed", "disk full"),
    )


@st.composite
def fleets(draw: st.DrawFn, max_hosts: int = 12) -> list[HostView]:
    n = draw(st.integers(0, max_hosts))
    return [view(f"h{i:02d}", draw(st.booleans()), draw(st.sampled_from(STATES))) for i in range(n)]


int_or_percent = st.one_of(st.integers(1, 6), st.integers(1, 100).map(lambda p: f"{p}%"))
failures_allowed = st.one_of(st.integers(0, 4), st.integers(1, 100).map(lambda p: f"{p}%"))


@st.composite
def partitions(draw: st.DrawFn, hosts: list[HostView], *, gated: bool = False) -> list[Stage]:
    """Partitions in rollout order; ``gated`` ones may need approval or pause."""
    names = [h.name for h in hosts]
    count = draw(st.integers(0, 3))
    return [
        Stage(
            f"p{i}",
            frozenset(draw(st.lists(st.sampled_from(names), unique=True)))
            if names
            else frozenset(),
            needs_approval=gated and draw(st.booleans()),
            pause_seconds=draw(st.sampled_from([0.0, 30.0])) if gated else 0.0,
        )
        for i in range(count)
    ]
