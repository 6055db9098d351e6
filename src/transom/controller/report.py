"""`transom status`: which generation and commit each host runs, read from the cluster."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from transom.api import conditions as c
from transom.api import names
from transom.api.assignment import Assignment, AssignmentState
from transom.controller import liveness
from transom.kube.client import Kube
from transom.kube.kinds import ASSIGNMENTS, CONFIGURATIONS, HOSTS, LEASES

#: Ready reasons of a Configuration held by a gate, or halted by a reboot that did not end.
HELD_REASONS = frozenset(
    {c.WAITING_FOR_APPROVAL, c.WAITING_FOR_WINDOW, c.PAUSED, c.REBOOT_DEADLINE_EXCEEDED}
)


@dataclass(frozen=True)
class Row:
    host: str
    online: bool
    configuration: str
    generation: str
    revision: str
    state: str
    message: str


def _state(a: Assignment) -> tuple[str, str]:
    """STATE and MESSAGE columns, from the one verdict."""
    verdict = a.verdict()
    if verdict.state is AssignmentState.FAILED:
        where = f"{verdict.resource}: " if verdict.resource else ""
        return str(verdict.state), where + (verdict.detail or verdict.message)
    if verdict.state is AssignmentState.DRIFTED:
        return str(verdict.state), f"{a.status.drifted} resource(s) drifted"
    if verdict.state is AssignmentState.READY:
        return str(verdict.state), ""
    return str(verdict.state), verdict.message


async def rows(kube: Kube, host: str | None = None) -> list[Row]:
    hosts = [h["metadata"]["name"] for h in (await kube.list(HOSTS.path()))["items"]]
    if host is not None:
        if host not in hosts:
            raise LookupError(
                f"no Host named {host!r}; hosts: {', '.join(sorted(hosts)) or 'none'}"
            )
        hosts = [host]
    selector = f"{names.LABEL_MANAGED_BY}={names.MANAGED_BY}"
    assignments = (await kube.list(ASSIGNMENTS.path(), labelSelector=selector))["items"]
    leases = {
        lease["metadata"]["namespace"]: lease
        for lease in (
            await kube.list(LEASES.path(), fieldSelector=f"metadata.name={names.LEASE_NAME}")
        )["items"]
    }
    out: list[Row] = []
    for h in sorted(hosts):
        online = liveness.online(leases.get(names.host_namespace(h)))
        mine = [a for a in assignments if a["metadata"]["namespace"] == names.host_namespace(h)]
        if not mine:
            out.append(Row(h, online, "-", "-", "-", "-", "no assignments"))
        for raw in sorted(mine, key=lambda a: a["metadata"]["name"]):
            a = Assignment.model_validate(raw)
            src = a.spec.source
            state, message = _state(a)
            generation, revision = src.generation, src.revision
            back = a.status.rollback
            if a.caught_up() and back is not None:
                # Which commit is on the box: the one it rolled back to.
                generation, revision = back.to_generation, back.to_revision
            out.append(
                Row(
                    host=h,
                    online=online,
                    configuration=f"{src.configuration.namespace}/{src.configuration.name}",
                    generation=str(generation),
                    revision=_short(revision),
                    state=state,
                    message=message,
                )
            )
    return out


def _short(revision: str) -> str:
    """main@sha1:0123456789abcdef... -> main@sha1:0123456789ab"""
    if "@sha1:" in revision:
        ref, sha = revision.split("@sha1:", 1)
        return f"{ref}@sha1:{sha[:12]}"
    return revision or "-"


async def resources(kube: Kube, host: str) -> list[dict[str, Any]]:
    """Per-resource results for every Assignment of a host."""
    items = (await kube.list(ASSIGNMENTS.path(names.host_namespace(host))))["items"]
    out = []
    for a in items:
        for r in (a.get("status") or {}).get("results") or []:
            out.append({"assignment": a["metadata"]["name"], **r})
    return out


def render(table: list[Row]) -> str:
    header = ("HOST", "ONLINE", "CONFIGURATION", "GEN", "REVISION", "STATE", "MESSAGE")
    body = [
        (
            r.host,
            "yes" if r.online else "NO",
            r.configuration,
            r.generation,
            r.revision,
            r.state,
            r.message[:80],
        )
        for r in table
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body, strict=False)]
    return "\n".join(
        "  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=False)).rstrip()
        for row in [header, *body]
    )


@dataclass(frozen=True)
class Held:
    """A Configuration whose rollout waits at a gate (or halted on a reboot deadline)."""

    configuration: str
    reason: str
    message: str
    approvals: tuple[str, ...] = ()


async def held(kube: Kube) -> list[Held]:
    out: list[Held] = []
    for conf in (await kube.list(CONFIGURATIONS.path()))["items"]:
        status = conf.get("status") or {}
        ready = next((x for x in status.get("conditions") or [] if x.get("type") == "Ready"), None)
        if ready is None or ready.get("reason") not in HELD_REASONS:
            continue
        meta = conf["metadata"]
        out.append(
            Held(
                f"{meta.get('namespace', '')}/{meta['name']}",
                str(ready["reason"]),
                str(ready.get("message", "")),
                tuple(
                    f"{r.get('partition')} by {r.get('approver')}"
                    for r in status.get("approvals") or []
                ),
            )
        )
    return sorted(out, key=lambda h: h.configuration)


def render_held(lines: list[Held]) -> str:
    """Below the table: what each held rollout waits for, and who approved what so far."""
    out = []
    for h in lines:
        out.append(f"{h.configuration}: {h.reason}: {h.message}")
        if h.approvals:
            out.append(f"  approved: {', '.join(h.approvals)}")
    return "\n".join(out)
