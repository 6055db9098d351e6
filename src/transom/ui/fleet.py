"""What the fleet view shows, read from cached Hosts, Assignments and Configurations.

A cell's state is the Assignment's own verdict (`Assignment.verdict()`, the one rule every
reader uses) shown on a host that is online; a host whose heartbeat the controller found stale
(its Ready condition is not True) shows every cell as offline.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from transom.api import names
from transom.api.assignment import Assignment, AssignmentState, ResourceResult, Verdict
from transom.api.conditions import READY, find_condition
from transom.api.configuration import ConfigurationStatus
from transom.api.host import HostStatus

Obj = dict[str, Any]


class CellState(StrEnum):
    """The page's colours, in the order the legend shows them."""

    READY = "ready"
    UPDATING = "updating"
    FAILED = "failed"
    DRIFTED = "drifted"
    OFFLINE = "offline"
    WAITING = "waiting"


_FROM_VERDICT = {
    AssignmentState.READY: CellState.READY,
    AssignmentState.APPLYING: CellState.UPDATING,
    AssignmentState.FAILED: CellState.FAILED,
    AssignmentState.DRIFTED: CellState.DRIFTED,
    AssignmentState.WAITING: CellState.WAITING,
    AssignmentState.PROBING: CellState.UPDATING,
    AssignmentState.ROLLING_BACK: CellState.FAILED,
    AssignmentState.ROLLED_BACK: CellState.FAILED,
}


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
    state = _FROM_VERDICT[verdict.state] if online else CellState.OFFLINE
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
    )


@dataclass
class Fleet:
    """The cached objects, by key, and the cells derived from them (recomputed per change)."""

    hosts: dict[str, Obj] = field(default_factory=dict)
    #: Assignments by host, then by Assignment name.
    assignments: dict[str, dict[str, Obj]] = field(default_factory=dict)
    configurations: dict[str, Obj] = field(default_factory=dict)
    #: Parsed once per change: a page of 1,000 hosts reads each host several times.
    _hosts: dict[str, HostInfo] = field(default_factory=dict, repr=False)
    _cells: dict[str, list[Cell]] = field(default_factory=dict, repr=False)

    # -- updates: each returns the hosts whose row changed ----------------------------------

    def set_host(self, obj: Obj, deleted: bool = False) -> set[str]:
        name = str(obj["metadata"]["name"])
        self._hosts.pop(name, None)
        self._cells.pop(name, None)  # online or not changes every cell
        if deleted:
            self.hosts.pop(name, None)
        else:
            self.hosts[name] = obj
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
        meta = obj["metadata"]
        key = configuration_key(str(meta.get("namespace") or ""), str(meta["name"]))
        if deleted:
            self.configurations.pop(key, None)
        else:
            self.configurations[key] = obj
        return set()

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
                (c for c in out if c is not None), key=lambda c: c.configuration
            )
        return self._cells[host]

    def configuration_keys(self) -> list[str]:
        """Every Configuration, and any an Assignment names that is not (or no longer) cached."""
        keys = set(self.configurations)
        for host in self.hosts:
            keys.update(c.configuration for c in self.cells(host))
        return sorted(keys)

    def configuration(self, key: str) -> ConfigurationInfo | None:
        raw = self.configurations.get(key)
        if raw is None:
            return None
        meta = raw["metadata"]
        try:
            status = ConfigurationStatus.model_validate(raw.get("status") or {})
        except ValidationError:
            status = ConfigurationStatus()
        return ConfigurationInfo(
            key=key,
            namespace=str(meta.get("namespace") or ""),
            name=str(meta["name"]),
            generation=int(meta.get("generation") or 0),
            status=status,
        )

    def offline_count(self) -> int:
        infos = (self.host(h) for h in self.hosts)
        return sum(1 for info in infos if info is not None and not info.online)

    def counts(self, hosts: Iterable[str] | None = None) -> Counter[CellState]:
        """Cells per state over ``hosts`` (default: all)."""
        out: Counter[CellState] = Counter()
        for h in self.host_names() if hosts is None else hosts:
            out.update(c.state for c in self.cells(h))
        return out
