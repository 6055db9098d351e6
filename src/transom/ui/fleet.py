"""What the fleet view shows, read from cached Hosts, Assignments and Configurations.

A cell's state is the Assignment's own verdict (`Assignment.verdict()`, the one rule every
reader uses, mapped to a colour by `transom.ui.states`) shown on a host that is online; a host
whose heartbeat the controller found stale (its Ready condition is not True) shows every cell
as offline. A host still at an older generation than its Configuration's shows as updating, or
as waiting while the Configuration itself waits (an approval, a window).

`FleetView` is the fleet as one viewer may see it (`transom.ui.access.Access`): the pages are
drawn from a view, never from the Fleet itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from transom.api import names
from transom.api.assignment import Assignment, ResourceResult, Verdict
from transom.api.conditions import READY, find_condition
from transom.api.configuration import ConfigurationSpec, ConfigurationStatus
from transom.api.host import HostStatus
from transom.ui.access import EVERYTHING, Access
from transom.ui.audit import AuditWitness
from transom.ui.states import (
    CellState,
    deciding_condition,
    state_of_conditions,
    state_of_verdict,
)

Obj = dict[str, Any]


def short_revision(revision: str) -> str:
    """main@sha1:0123456789abcdef... -> 0123456789ab; a revision without a sha as it is."""
    if "@sha1:" in revision:
        return revision.split("@sha1:", 1)[1][:12]
    if ":" in revision:
        return revision.rsplit(":", 1)[1][:12]
    return revision[:12]


@dataclass(frozen=True)
class Cell:
    host: str
    configuration: str  # namespace/name
    name: str  # the Assignment's name
    state: CellState
    generation: int
    revision: str
    message: str
    verdict: Verdict
    results: tuple[ResourceResult, ...] = ()
    #: The Assignment's spec.source as written (Kustomization, revision, provenance).
    source: Obj = field(default_factory=dict, compare=False, repr=False)

    @property
    def short_revision(self) -> str:
        return short_revision(self.revision)


@dataclass(frozen=True)
class HostInfo:
    name: str
    labels: dict[str, str]
    online: bool
    status: HostStatus
    #: Why the host counts as offline (the controller's Ready message), "" when online.
    offline_reason: str = ""


@dataclass(frozen=True)
class ConfigurationInfo:
    key: str  # namespace/name
    namespace: str
    name: str
    generation: int
    status: ConfigurationStatus
    #: None when the spec does not parse (the controller reports why in the status).
    spec: ConfigurationSpec | None
    labels: dict[str, str]
    state: CellState
    #: The reason its state comes from (its Stalled, Reconciling or Ready condition's).
    state_reason: str = ""


def configuration_key(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


def host_info(raw: Obj) -> HostInfo:
    meta = raw.get("metadata") or {}
    try:
        status = HostStatus.model_validate(raw.get("status") or {})
    except ValidationError:
        status = HostStatus()
    ready = find_condition(status.conditions, READY)
    online = ready is not None and ready.status == "True"
    reason = "" if online else (ready.message if ready is not None else "not reported yet")
    return HostInfo(
        name=str(meta.get("name", "")),
        labels=dict(meta.get("labels") or {}),
        online=online,
        status=status,
        offline_reason=reason,
    )


def cell_of(raw: Obj, online: bool) -> Cell | None:
    """The cell of one Assignment; None for an object that is not a valid Assignment."""
    try:
        a = Assignment.model_validate(raw)
    except ValidationError:
        return None
    verdict = a.verdict()
    state = state_of_verdict(verdict) if online else CellState.OFFLINE
    src = a.spec.source
    message = verdict.message
    if verdict.resource and verdict.detail:
        message = f"{verdict.resource}: {verdict.detail}"
    return Cell(
        host=a.spec.host,
        configuration=configuration_key(src.configuration.namespace, src.configuration.name),
        name=a.metadata.name,
        state=state,
        generation=src.generation,
        revision=src.revision or a.status.applied_revision,
        message=message,
        verdict=verdict,
        results=tuple(a.status.results),
        source=dict((raw.get("spec") or {}).get("source") or {}),
    )


def configuration_info(key: str, raw: Obj) -> ConfigurationInfo:
    meta = raw["metadata"]
    try:
        status = ConfigurationStatus.model_validate(raw.get("status") or {})
    except ValidationError:
        status = ConfigurationStatus()
    try:
        spec: ConfigurationSpec | None = ConfigurationSpec.model_validate(raw.get("spec") or {})
    except ValidationError:
        spec = None
    return ConfigurationInfo(
        key=key,
        namespace=str(meta.get("namespace") or ""),
        name=str(meta["name"]),
        generation=int(meta.get("generation") or 0),
        status=status,
        spec=spec,
        labels=dict(meta.get("labels") or {}),
        state=state_of_conditions(status.conditions),
        state_reason=_reason(status),
    )


def _reason(status: ConfigurationStatus) -> str:
    cond = deciding_condition(status.conditions)
    return cond.reason if cond is not None else ""


def lagging(cell: Cell, conf: ConfigurationInfo | None) -> Cell:
    """A host that runs an older generation than its Configuration's has not got the new one
    yet: updating, or waiting while the Configuration waits (it holds the rollout)."""
    if conf is None or cell.generation >= conf.generation:
        return cell
    if cell.state not in (CellState.READY, CellState.DRIFTED):
        return cell
    state = CellState.WAITING if conf.state is CellState.WAITING else CellState.UPDATING
    why = f"runs generation {cell.generation}; the Configuration is at {conf.generation}"
    if state is CellState.WAITING:
        why += f", {conf.state_reason}"
    return replace(cell, state=state, message=why)


def _mark(info: ConfigurationInfo | None) -> tuple[int, CellState] | None:
    return None if info is None else (info.generation, info.state)


@dataclass
class Fleet:
    """The cached objects, by key, and what is derived from them (recomputed per change)."""

    hosts: dict[str, Obj] = field(default_factory=dict)
    #: Assignments by host, then by Assignment name.
    assignments: dict[str, dict[str, Obj]] = field(default_factory=dict)
    configurations: dict[str, Obj] = field(default_factory=dict)
    #: Every audit checkpoint a Host published while the view watched.
    audit: AuditWitness = field(default_factory=AuditWitness)
    #: Parsed once per change: a page of 1,000 hosts reads each host several times.
    _hosts: dict[str, HostInfo] = field(default_factory=dict, repr=False)
    _cells: dict[str, list[Cell]] = field(default_factory=dict, repr=False)
    _configurations: dict[str, ConfigurationInfo] = field(default_factory=dict, repr=False)

    # -- updates: each returns the hosts whose row changed ----------------------------------

    def set_host(self, obj: Obj, deleted: bool = False) -> set[str]:
        name = str(obj["metadata"]["name"])
        self._hosts.pop(name, None)
        self._cells.pop(name, None)  # online or not changes every cell
        if deleted:
            self.hosts.pop(name, None)
            self.audit.forget(name)
        else:
            self.hosts[name] = obj
            info = self.host(name)
            if info is not None:
                self.audit.observe(name, info.status.audit_checkpoint)
        return {name}

    def set_assignment(self, obj: Obj, deleted: bool = False) -> set[str]:
        meta = obj["metadata"]
        host = str((obj.get("spec") or {}).get("host") or "")
        namespace = str(meta.get("namespace") or "")
        if not host and namespace.startswith(names.HOST_NAMESPACE_PREFIX):
            host = namespace.removeprefix(names.HOST_NAMESPACE_PREFIX)
        if not host:
            return set()
        self._cells.pop(host, None)
        mine = self.assignments.setdefault(host, {})
        if deleted:
            mine.pop(str(meta["name"]), None)
        else:
            mine[str(meta["name"])] = obj
        return {host}

    def set_configuration(self, obj: Obj, deleted: bool = False) -> set[str]:
        """Rows change only when the generation or the state does (a cell may lag behind it,
        or wait with it); other status writes during a rollout redraw no row."""
        meta = obj["metadata"]
        key = configuration_key(str(meta.get("namespace") or ""), str(meta["name"]))
        before = self._configurations.pop(key, None)
        if deleted:
            self.configurations.pop(key, None)
        else:
            self.configurations[key] = obj
        after = self.configuration(key)
        if _mark(before) == _mark(after):
            return set()
        changed = {h for h, mine in self.assignments.items() if self._names(mine, key)}
        for h in changed:
            self._cells.pop(h, None)
        return changed

    @staticmethod
    def _names(assignments: dict[str, Obj], key: str) -> bool:
        for a in assignments.values():
            ref = ((a.get("spec") or {}).get("source") or {}).get("configuration") or {}
            if configuration_key(str(ref.get("namespace") or ""), str(ref.get("name"))) == key:
                return True
        return False

    # -- reads ------------------------------------------------------------------------------

    def host(self, name: str) -> HostInfo | None:
        if name not in self._hosts:
            raw = self.hosts.get(name)
            if raw is None:
                return None
            self._hosts[name] = host_info(raw)
        return self._hosts[name]

    def host_names(self) -> list[str]:
        return sorted(self.hosts)

    def cells(self, host: str) -> list[Cell]:
        if host not in self._cells:
            info = self.host(host)
            online = info is not None and info.online
            out = [cell_of(a, online) for a in (self.assignments.get(host) or {}).values()]
            self._cells[host] = sorted(
                (lagging(c, self.configuration(c.configuration)) for c in out if c is not None),
                key=lambda c: c.configuration,
            )
        return self._cells[host]

    def configuration(self, key: str) -> ConfigurationInfo | None:
        if key not in self._configurations:
            raw = self.configurations.get(key)
            if raw is None:
                return None
            self._configurations[key] = configuration_info(key, raw)
        return self._configurations[key]

    def view(self, access: Access = EVERYTHING) -> FleetView:
        return FleetView(self, access)


@dataclass(frozen=True)
class FleetView:
    """The fleet as one viewer may see it: Hosts (rows) only with ``access.hosts``, cells only
    with Hosts and Assignments, Configurations only in the namespaces allowed."""

    fleet: Fleet
    access: Access = EVERYTHING

    def host(self, name: str) -> HostInfo | None:
        return self.fleet.host(name) if self.access.hosts else None

    def host_names(self) -> list[str]:
        return self.fleet.host_names() if self.access.hosts else []

    def cells(self, host: str) -> list[Cell]:
        if not (self.access.hosts and self.access.assignments):
            return []
        return self.fleet.cells(host)

    def configuration(self, key: str) -> ConfigurationInfo | None:
        return self.fleet.configuration(key) if self.access.configuration(key) else None

    def configuration_keys(self) -> list[str]:
        """Every Configuration shown, and any a shown Assignment names that is not (or no
        longer) cached."""
        keys = {k for k in self.fleet.configurations if self.access.configuration(k)}
        for host in self.host_names():
            keys.update(c.configuration for c in self.cells(host))
        return sorted(keys)

    def cells_of(self, key: str) -> list[Cell]:
        return [c for h in self.host_names() for c in self.cells(h) if c.configuration == key]

    def structure(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """What a grid redraw changes: its rows and its columns."""
        return (tuple(self.host_names()), tuple(self.configuration_keys()))

    def offline_count(self) -> int:
        infos = (self.host(h) for h in self.host_names())
        return sum(1 for info in infos if info is not None and not info.online)

    def counts(self, hosts: Iterable[str] | None = None) -> Counter[CellState]:
        """Cells per state over ``hosts`` (default: all shown)."""
        out: Counter[CellState] = Counter()
        for h in self.host_names() if hosts is None else hosts:
            out.update(c.state for c in self.cells(h))
        return out
