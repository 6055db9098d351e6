"""Rollout progress by partition, and cells of hosts the rollout has not reached yet."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from transom.api.wire import API_VERSION
from transom.ui.access import Access
from transom.ui.fleet import Fleet
from transom.ui.progress import REST, partitions
from transom.ui.states import CellState

NOW = "2026-12-01T00:00:00Z"


def host(name: str, labels: dict[str, str]) -> dict[str, Any]:
    ready = {
        "type": "Ready",
        "status": "True",
        "reason": "Succeeded",
        "message": "",
        "lastTransitionTime": NOW,
    }
    return {
        "apiVersion": API_VERSION,
        "kind": "Host",
        "metadata": {"name": name, "labels": labels},
        "status": {"conditions": [ready]},
    }


def assignment(h: str, generation: int, ok: bool = True) -> dict[str, Any]:
    result = {
        "name": "f",
        "type": "File",
        "inDesiredState": ok,
        "reason": "" if ok else "ProviderFailed",
        "message": "" if ok else "denied",
    }
    return {
        "apiVersion": API_VERSION,
        "kind": "Assignment",
        "metadata": {"name": "prod.web", "namespace": f"transom-host-{h}", "generation": 1},
        "spec": {
            "host": h,
            "resources": [],
            "source": {
                "configuration": {"namespace": "prod", "name": "web"},
                "generation": generation,
            },
        },
        "status": {"observedGeneration": 1, "results": [result]},
    }


def configuration(
    generation: int, reason: str = "Succeeded", parts: list[tuple[str, str]] | None = None
) -> dict[str, Any]:
    ready = {
        "type": "Ready",
        "status": "True" if reason == "Succeeded" else "False",
        "reason": reason,
        "message": "",
        "lastTransitionTime": NOW,
    }
    return {
        "apiVersion": API_VERSION,
        "kind": "Configuration",
        "metadata": {"name": "web", "namespace": "prod", "generation": generation},
        "spec": {
            "hostSelector": {"matchLabels": {"app": "web"}},
            "resources": [{"name": "f", "directory": {"path": "/tmp/x"}}],
            "rollout": {
                "partitions": [
                    {"name": n, "hostSelector": {"matchLabels": {"ring": r}}}
                    for n, r in parts or []
                ]
            },
        },
        "status": {"conditions": [ready]},
    }


def test_a_host_behind_waits_while_its_configuration_waits() -> None:
    fleet = Fleet()
    fleet.set_host(host("a", {"app": "web"}))
    fleet.set_assignment(assignment("a", generation=1))
    fleet.set_configuration(configuration(1))
    assert [c.state for c in fleet.cells("a")] == [CellState.READY]
    # Generation 2 held for an approval: the row changes with it, to waiting.
    assert fleet.set_configuration(configuration(2, "WaitingForApproval")) == {"a"}
    assert [c.state for c in fleet.cells("a")] == [CellState.WAITING]
    assert fleet.cells("a")[0].message.endswith("at 2, WaitingForApproval")
    assert fleet.set_configuration(configuration(2, "RolloutInProgress")) == {"a"}
    assert [c.state for c in fleet.cells("a")] == [CellState.UPDATING]
    # A status write that changes neither generation nor state redraws no row.
    assert fleet.set_configuration(configuration(2, "RolloutInProgress")) == set()


def test_view_hides_what_access_does_not_allow() -> None:
    fleet = Fleet()
    fleet.set_host(host("a", {"app": "web"}))
    fleet.set_assignment(assignment("a", 1))
    fleet.set_configuration(configuration(1))
    none = fleet.view(Access(hosts=False, assignments=False, configuration_namespaces=frozenset()))
    assert none.host_names() == [] and none.configuration_keys() == []
    configs = fleet.view(Access(False, False, frozenset({"prod"})))
    assert configs.configuration_keys() == ["prod/web"] and configs.cells_of("prod/web") == []
    hosts_only = fleet.view(Access(True, False, frozenset()))
    assert hosts_only.host_names() == ["a"] and hosts_only.cells("a") == []


@given(st.lists(st.sampled_from(["canary", "main", "none"]), min_size=1, max_size=12))
def test_every_host_in_exactly_one_partition_first_match_wins(rings: list[str]) -> None:
    fleet = Fleet()
    for i, ring in enumerate(rings):
        labels = {"app": "web", "ring": ring}
        if ring == "canary":
            labels["also"] = "main"
        fleet.set_host(host(f"h{i}", labels))
        fleet.set_assignment(assignment(f"h{i}", 1, ok=i % 5 != 4))
    fleet.set_configuration(configuration(1, parts=[("canary", "canary"), ("main", "main")]))
    info = fleet.configuration("prod/web")
    assert info is not None
    view = fleet.view()
    by_host: dict[str, dict[str, str]] = {
        h: dict(fleet.hosts[h]["metadata"]["labels"]) for h in fleet.hosts
    }
    got = partitions(info, view.cells_of("prod/web"), by_host)
    members = [h for p in got for h in p.hosts]
    assert sorted(members) == sorted(fleet.hosts)
    by_name = {p.name: set(p.hosts) for p in got}
    for h, ring in zip(sorted(fleet.hosts, key=lambda n: int(n[1:])), rings, strict=True):
        assert h in by_name[ring if ring != "none" else REST]
    for p in got:
        assert p.failed == sum(1 for h in p.hosts if int(h[1:]) % 5 == 4)
        assert p.phase == ("empty" if not p.hosts else "failed" if p.failed else "done")
