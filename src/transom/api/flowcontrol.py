"""API Priority and Fairness (flowcontrol.apiserver.k8s.io/v1) for Transom's clients, shipped
in deploy/: the apiserver's side of what the clients' token buckets do.

- The controller's leader-election Lease goes to the built-in ``leader-election`` priority
  level, as kube-controller-manager's does: a 10,000-host rollout cannot delay the renewal
  that keeps the leader leading.
- The controller's other requests get a priority level of their own, so its bulk Assignment
  writes queue among themselves and leave other apiserver users their share.
- Hosts share one priority level, fair-queued by user (each host is its own user), so one
  noisy host cannot crowd out the rest, and the fleet together cannot crowd out the cluster.
"""

from __future__ import annotations

from typing import Any

from transom.api.names import HOSTS_GROUP

API_VERSION = "flowcontrol.apiserver.k8s.io/v1"
CONTROLLER_LEVEL = "transom-controller"
HOSTS_LEVEL = "transom-hosts"
#: Built into every apiserver (its own leader elections use it).
LEADER_ELECTION_LEVEL = "leader-election"
_LABELS = {"app.kubernetes.io/part-of": "transom"}


def _level(name: str, shares: int, queues: int) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "PriorityLevelConfiguration",
        "metadata": {"name": name, "labels": _LABELS},
        "spec": {
            "type": "Limited",
            "limited": {
                "nominalConcurrencyShares": shares,
                # Idle seats may serve others; busy, it borrows from idle levels.
                "lendablePercent": 50,
                "limitResponse": {
                    "type": "Queue",
                    "queuing": {"queues": queues, "handSize": 6, "queueLengthLimit": 50},
                },
            },
        },
    }


def _all_resources(namespaced: bool = True) -> list[dict[str, Any]]:
    rule: dict[str, Any] = {
        "verbs": ["*"],
        "apiGroups": ["*"],
        "resources": ["*"],
        "clusterScope": True,
    }
    if namespaced:
        rule["namespaces"] = ["*"]
    return [rule]


def _schema(
    name: str,
    level: str,
    precedence: int,
    subjects: list[dict[str, Any]],
    rules: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "FlowSchema",
        "metadata": {"name": name, "labels": _LABELS},
        "spec": {
            "priorityLevelConfiguration": {"name": level},
            "matchingPrecedence": precedence,
            "distinguisherMethod": {"type": "ByUser"},
            "rules": [{"subjects": subjects, "resourceRules": rules}],
        },
    }


def objects(namespace: str, service_account: str) -> list[dict[str, Any]]:
    """Two priority levels and three FlowSchemas (the Lease name is no FlowSchema field:
    leases in the controller's namespace match)."""
    controller = [
        {
            "kind": "ServiceAccount",
            "serviceAccount": {"name": service_account, "namespace": namespace},
        }
    ]
    hosts = [{"kind": "Group", "group": {"name": HOSTS_GROUP}}]
    return [
        _level(CONTROLLER_LEVEL, shares=40, queues=16),
        _level(HOSTS_LEVEL, shares=30, queues=128),
        # Precedences below the built-in service-accounts (9000) and global-default (9900)
        # schemas, so these match first; the leader's Lease before its other requests.
        _schema(
            "transom-controller-leader-election",
            LEADER_ELECTION_LEVEL,
            450,
            controller,
            [
                {
                    "verbs": ["get", "create", "update"],
                    "apiGroups": ["coordination.k8s.io"],
                    "resources": ["leases"],
                    "namespaces": [namespace],
                }
            ],
        ),
        _schema("transom-controller", CONTROLLER_LEVEL, 500, controller, _all_resources()),
        _schema("transom-hosts", HOSTS_LEVEL, 500, hosts, _all_resources()),
    ]
