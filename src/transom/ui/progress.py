"""A Configuration's rollout, partition by partition, as its hosts' cells show it.

Membership follows the controller's rule (`controller.rollout`): partitions in order, a host in
the first whose selector matches it, hosts in none form a last partition; a partition starts
only when every host before it is done.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from transom.api.gates import Approval
from transom.ui.fleet import Cell, ConfigurationInfo
from transom.ui.states import CellState

#: The last partition's name: hosts no partition selects.
REST = "(rest)"


@dataclass(frozen=True)
class PartitionProgress:
    name: str
    hosts: tuple[str, ...]
    #: Hosts whose Assignment is at the Configuration's generation.
    updated: int
    #: Of those, the ones that run it (ready or drifted).
    ready: int
    failed: int
    counts: Mapping[CellState, int]
    #: done, failed, rolling out, waiting (an earlier partition is not done), or empty.
    phase: str
    #: What holds the partition before it starts: "manual approval", "pause 60 s", or "".
    gate: str = ""


def partitions(
    info: ConfigurationInfo, cells: Sequence[Cell], labels: Mapping[str, Mapping[str, str]]
) -> list[PartitionProgress]:
    """``cells``: this Configuration's cells; ``labels``: host name -> its labels."""
    by_host = {c.host: c for c in cells}
    specs = info.spec.rollout.partitions if info.spec is not None else []
    seen: set[str] = set()
    groups: list[tuple[str, list[str], str]] = []
    for p in specs:
        members = sorted(
            h for h in by_host if h not in seen and p.host_selector.matches(dict(labels.get(h, {})))
        )
        seen.update(members)
        gates = [
            "manual approval" if p.approval is Approval.MANUAL else "",
            f"pause {p.pause_seconds} s" if p.pause_seconds else "",
        ]
        groups.append((p.name, members, ", ".join(g for g in gates if g)))
    rest = sorted(h for h in by_host if h not in seen)
    if rest or not specs:
        groups.append((REST if specs else "all hosts", rest, ""))
    out: list[PartitionProgress] = []
    blocked = False
    for name, members, gate in groups:
        mine = [by_host[h] for h in members]
        current = [c for c in mine if c.generation >= info.generation]
        ready = sum(1 for c in current if c.state in (CellState.READY, CellState.DRIFTED))
        failed = sum(1 for c in mine if c.state is CellState.FAILED)
        if not mine:
            phase = "empty"
        elif failed:
            phase = "failed"
        elif ready == len(mine):
            phase = "done"
        elif blocked or not current:
            phase = "waiting"
        else:
            phase = "rolling out"
        out.append(
            PartitionProgress(
                name=name,
                hosts=tuple(members),
                updated=len(current),
                ready=ready,
                failed=failed,
                counts=Counter(c.state for c in mine),
                phase=phase,
                gate=gate,
            )
        )
        blocked = blocked or phase not in ("done", "empty")
    return out
