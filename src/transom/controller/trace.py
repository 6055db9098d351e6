"""`transom trace HOST [RESOURCE]`: from a host's resource back to the commit, like
`flux trace`, but down to the Windows host."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from transom.api import names
from transom.api.assignment import Assignment
from transom.api.provenance import Provenance, unverified
from transom.controller.report import rows
from transom.kube.client import Kube
from transom.kube.kinds import ASSIGNMENTS, CONFIGURATIONS, GIT_REPOSITORIES, KUSTOMIZATIONS, Kind

_SOURCE_KINDS = {"GitRepository": GIT_REPOSITORIES}


class Reader(Protocol):
    """What the Flux end of a trace reads with: a Kube, or the fleet view's reader that
    checks each read against its viewer's RBAC first."""

    async def get_or_none(self, path: str) -> dict[str, Any] | None: ...


@dataclass
class Trace:
    lines: list[tuple[str, str]] = field(default_factory=list)

    def add(self, label: str, text: str) -> None:
        self.lines.append((label, text))

    def render(self) -> str:
        width = max((len(k) for k, _ in self.lines), default=0) + 1
        return "\n".join(f"{(k + ':').ljust(width)} {v}" for k, v in self.lines)


def _ready(obj: dict[str, Any]) -> str:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return f"Ready={c.get('status')} ({c.get('reason')}: {c.get('message', '')[:100]})"
    return "Ready=<none>"


async def trace(kube: Kube, host: str, resource: str | None = None) -> list[Trace]:
    """One trace per Assignment of the host that holds ``resource`` (every one if None)."""
    host_row = {r.configuration: r for r in await rows(kube, host)}
    assignments = (await kube.list(ASSIGNMENTS.path(names.host_namespace(host))))["items"]
    out = []
    for raw in sorted(assignments, key=lambda a: a["metadata"]["name"]):
        a = Assignment.model_validate(raw)
        wanted = [r for r in a.spec.resources if resource in (None, r.name)]
        if resource is not None and not wanted:
            continue
        t = Trace()
        src = a.spec.source
        conf_ref = src.configuration
        conf_key = f"{conf_ref.namespace}/{conf_ref.name}"
        row = host_row.get(conf_key)
        t.add("Host", f"{host} ({'online' if row and row.online else 'OFFLINE'})")
        results = {r.name: r for r in a.status.results}
        for r in wanted if resource is not None else []:
            res = results.get(r.name)
            if res is None:
                state = "not yet applied"
            elif res.in_desired_state:
                state = "in desired state"
            else:
                state = ("FAILED: " if res.failed else "") + (res.message or res.reason)
            t.add("Resource", f"{r.name} [{r.member}] {state}")
        verdict = a.verdict()
        t.add(
            "Assignment",
            f"{a.metadata.namespace}/{a.metadata.name} generation {src.generation} "
            f"{'applied' if a.caught_up() else 'NOT YET APPLIED'}; "
            f"{verdict.state} ({verdict.reason}: {verdict.message[:100]})",
        )
        t.add("Applied rev", a.status.applied_revision or "-")
        conf = await kube.get_or_none(CONFIGURATIONS.path(conf_ref.namespace, conf_ref.name))
        if conf is None:
            t.add("Configuration", f"{conf_key} (deleted)")
            out.append(t)
            continue
        cs = conf.get("status") or {}
        t.add(
            "Configuration",
            f"{conf_key} generation {conf['metadata'].get('generation')} "
            f"hosts {cs.get('summary', '-')}; {_ready(conf)}",
        )
        await _flux(kube, t, raw["spec"]["source"])
        _provenance(t, src.provenance)
        out.append(t)
    if resource is not None and not out:
        raise LookupError(f"host {host} has no resource named {resource!r}")
    return out


async def flux_trace(kube: Reader, src: dict[str, Any]) -> list[tuple[str, str]]:
    """The Flux end alone (Kustomization, its source, the commit, and who authorized it when
    the source is an Assignment's) as label/text lines: the fleet view shows it per
    Configuration."""
    t = Trace()
    await _flux(kube, t, src)
    if "provenance" in src:
        _provenance(t, Provenance.model_validate(src["provenance"]))
    return t.lines


async def _flux(kube: Reader, t: Trace, src: dict[str, Any]) -> None:
    """The Flux end of the trace: Kustomization, its source, and the commit."""
    ks_ref = src.get("kustomization")
    if not ks_ref:
        t.add("Kustomization", "none (not applied by Flux)")
        return
    ks = await kube.get_or_none(KUSTOMIZATIONS.path(ks_ref.get("namespace"), ks_ref["name"]))
    if ks is None:
        t.add("Kustomization", f"{ks_ref.get('namespace')}/{ks_ref['name']} (not found)")
        return
    kss = ks.get("status") or {}
    t.add(
        "Kustomization",
        f"{ks_ref.get('namespace')}/{ks_ref['name']} "
        f"path {ks['spec'].get('path', '/')}; {_ready(ks)}",
    )
    t.add("Last applied", str(kss.get("lastAppliedRevision") or "-"))
    source_ref = ks["spec"].get("sourceRef") or {}
    kind: Kind | None = _SOURCE_KINDS.get(source_ref.get("kind", ""))
    if kind is not None:
        repo = await kube.get_or_none(
            kind.path(source_ref.get("namespace") or ks_ref.get("namespace"), source_ref["name"])
        )
        if repo is not None:
            artifact = (repo.get("status") or {}).get("artifact") or {}
            t.add(
                source_ref["kind"],
                f"{repo['metadata']['namespace']}/"
                f"{repo['metadata']['name']} {repo['spec'].get('url')}",
            )
            t.add("Source rev", str(artifact.get("revision") or "-"))
            t.add("Source", _ready(repo))
            verified = next(
                (
                    c
                    for c in (repo.get("status") or {}).get("conditions") or []
                    if c.get("type") == "SourceVerified"
                ),
                None,
            )
            if verified is not None:
                message = " ".join(str(verified.get("message", "")).split())
                t.add("Source verify", f"{verified.get('status')}: {message[:200]}")
    t.add("Commit", f"{src.get('revision') or '-'} (introduced generation {src['generation']})")


def _provenance(t: Trace, p: Provenance | None) -> None:
    """Who authorized the generation, as the controller recorded it in the Assignment."""
    if p is None:
        t.add("Authorized", "no provenance recorded")
        return
    if p.commit:
        who = f"{p.author} at {p.author_time}" if p.author else f"unread ({p.commit_error})"
        t.add("Author", who)
        if p.committer and p.committer != p.author:
            t.add("Committer", f"{p.committer} at {p.commit_time}")
        t.add("Signed by", p.signing_key or "unsigned")
        detail = f", key {p.verified_key}" if p.verified_key else ""
        t.add("Flux verify", f"{p.verification.value}{detail}")
    applier = p.service_account or "kustomize-controller's own identity"
    writer = f"{p.writer or '?'} ({p.writer_operation or '?'}) at {p.write_time or '?'}"
    t.add("Written by", writer + (f"; Flux applied as {applier}" if p.flux_applied else ""))
    if p.requested_at:
        t.add("Requested", f"reconcile requested at {p.requested_at}")
    why = unverified(p)
    t.add("Authorized", "verified commit, applied by Flux" if not why else f"NOT VERIFIED: {why}")
