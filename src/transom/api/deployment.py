"""The controller's deployment manifests, generated like the CRDs: a Kustomize base in
deploy/base/ and a Helm chart in deploy/charts/transom/ (`make crds` writes both)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from transom import __version__
from transom.api import admission, flowcontrol, rbac
from transom.api.crds import HEADER, KINDS, crd
from transom.api.names import CONTROLLER_LEADER_LEASE, CONTROLLER_NAMESPACE, LABEL_SHARD
from transom.api.wire import GROUP

NAME = "transom-controller"
#: Two replicas, one leading (the other a warm standby) on this Lease in the namespace.
REPLICAS = 2
IMAGE = "ghcr.io/transom-dev/transom-controller"
_LABELS = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/part-of": "transom"}


def _rule(
    groups: list[str], resources: list[str], verbs: list[str], names: list[str] | None = None
) -> dict[str, Any]:
    rule: dict[str, Any] = {"apiGroups": groups, "resources": resources, "verbs": verbs}
    if names:
        rule["resourceNames"] = names
    return rule


def controller_cluster_role() -> dict[str, Any]:
    rw = ["get", "list", "watch", "create", "update", "patch", "delete"]
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": NAME, "labels": _LABELS},
        "rules": [
            _rule([GROUP], ["configurations", "hosts", "assignments"], rw),
            _rule([GROUP], ["approvals"], ["get", "list", "watch"]),
            _rule([GROUP], ["configurations/status", "hosts/status"], ["get", "patch", "update"]),
            _rule(
                [GROUP], ["previews", "hostpreviews"], ["get", "list", "watch", "create", "delete"]
            ),
            _rule([GROUP], ["previews/status"], ["get", "patch", "update"]),
            _rule([""], ["namespaces", "secrets"], rw),
            # Agents' heartbeats, and the reboot leases it grants (deletes only when a host goes).
            # Patch: sharded, it labels each host's Lease with the host's shard.
            _rule(["coordination.k8s.io"], ["leases"], ["get", "list", "watch", "create", "patch"]),
            _rule(["", "events.k8s.io"], ["events"], ["create", "patch"]),
            # The fleet view (--ui-addr): each viewer's token reviewed and each view authorized
            # for them; host drift Events and the Flux source read for the pages it allows.
            _rule(["authentication.k8s.io"], ["tokenreviews"], ["create"]),
            _rule(["authorization.k8s.io"], ["subjectaccessreviews"], ["create"]),
            _rule(["events.k8s.io"], ["events"], ["list"]),
            _rule(["source.toolkit.fluxcd.io"], ["gitrepositories"], ["get"]),
            # Per-host RBAC: the controller grants hosts rights it does not hold itself.
            _rule(
                ["rbac.authorization.k8s.io"],
                ["roles", "rolebindings", "clusterroles", "clusterrolebindings"],
                [*rw, "bind", "escalate"],
            ),
            _rule(
                ["certificates.k8s.io"], ["certificatesigningrequests"], ["get", "list", "watch"]
            ),
            _rule(["certificates.k8s.io"], ["certificatesigningrequests/approval"], ["update"]),
            _rule(
                ["certificates.k8s.io"],
                ["signers"],
                ["approve"],
                ["kubernetes.io/kube-apiserver-client"],
            ),
            _rule(
                ["admissionregistration.k8s.io"],
                ["validatingadmissionpolicies", "validatingadmissionpolicybindings"],
                rw,
            ),
            _rule(
                ["apiextensions.k8s.io"],
                ["customresourcedefinitions"],
                ["get", "list", "watch", "create", "update", "patch"],
            ),
            _rule(["kustomize.toolkit.fluxcd.io"], ["kustomizations"], ["get", "list", "watch"]),
        ],
    }


#: Where the controller serves the fleet view in the pod (docs/ui.md).
UI_ADDR = "127.0.0.1:8600"
#: Prometheus metrics (docs/metrics.md): on the pod's address, for Prometheus to scrape;
#: they hold names and counts, no secrets.
METRICS_PORT = 8080
METRICS_SERVICE = f"{NAME}-metrics"


def objects(
    namespace: str = CONTROLLER_NAMESPACE,
    image: str = f"{IMAGE}:{__version__}",
    ui_addr: str = UI_ADDR,
    shards: int = 1,
    shard_leases: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Everything the controller needs; with ``shards`` above 1, one Deployment (two
    replicas, a PDB, a leader Lease) per shard (``shard_leases``: the Leases' names, for a
    template)."""
    meta = {"name": NAME, "namespace": namespace, "labels": _LABELS}
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": namespace, "labels": _LABELS},
        },
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        controller_cluster_role(),
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": NAME, "labels": _LABELS},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": NAME,
            },
            "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": namespace}],
        },
        *_leader_election(
            namespace,
            shard_leases
            if shard_leases is not None
            else [
                f"{CONTROLLER_LEADER_LEASE}-shard-{k}" for k in range(shards if shards > 1 else 0)
            ],
        ),
        *rbac.bootstrap_rbac(),
        *rbac.people_roles(),
        *admission.policies(),
        *(
            _controller(meta, image, ui_addr)
            if shards == 1
            else [
                o
                for k in range(shards)
                for o in _controller(meta, image, ui_addr, str(k), str(shards))
            ]
        ),
        metrics_service(namespace),
        *flowcontrol.objects(namespace, NAME),
    ]


def _controller(
    meta: dict[str, Any],
    image: str,
    ui_addr: str,
    shard: str | None = None,
    shards: str | None = None,
) -> list[dict[str, Any]]:
    """A Deployment of two replicas electing a leader, and its PodDisruptionBudget; for a
    shard (``shard`` of ``shards``), named and selected by the shard."""
    select = {"app.kubernetes.io/name": NAME}
    shard_args: list[str] = []
    if shard is not None:
        meta = {**meta, "name": f"{NAME}-shard-{shard}"}
        select = {**select, LABEL_SHARD: shard}
        shard_args = ["--shards", str(shards), "--shard-key", shard]
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {
                "replicas": REPLICAS,
                "selector": {"matchLabels": select},
                "template": {
                    "metadata": {"labels": {**_LABELS, **select}},
                    "spec": {
                        "serviceAccountName": NAME,
                        "securityContext": {
                            "runAsNonRoot": True,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "containers": [
                            {
                                "name": "controller",
                                "image": image,
                                # Installed by these manifests. The fleet view on the pod's
                                # loopback: reached only through `kubectl port-forward`.
                                "args": [
                                    "controller",
                                    "run",
                                    "--no-install",
                                    "--ui-addr",
                                    ui_addr,
                                    "--metrics-addr",
                                    f"0.0.0.0:{METRICS_PORT}",
                                    "--leader-elect",
                                    *shard_args,
                                ],
                                "env": [
                                    _field_env("POD_NAME", "metadata.name"),
                                    _field_env("POD_NAMESPACE", "metadata.namespace"),
                                ],
                                "ports": [
                                    {
                                        "name": "metrics",
                                        "containerPort": METRICS_PORT,
                                        "protocol": "TCP",
                                    }
                                ],
                                "resources": {
                                    "requests": {"cpu": "100m", "memory": "128Mi"},
                                    "limits": {"memory": "512Mi"},
                                },
                                "securityContext": {
                                    "allowPrivilegeEscalation": False,
                                    "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"]},
                                },
                            }
                        ],
                    },
                },
            },
        },
        {
            # A drain or node upgrade takes the replicas down one at a time: the standby
            # leads while the other is away.
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": meta,
            "spec": {
                "minAvailable": 1,
                "selector": {"matchLabels": select},
            },
        },
    ]


def _field_env(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def _leader_election(namespace: str, shard_leases: list[str]) -> list[dict[str, Any]]:
    """The leader Lease (each shard's, sharded): only in the controller's namespace, and only
    those by name (create cannot be limited by name in RBAC)."""
    meta = {"name": f"{NAME}-leader-election", "namespace": namespace, "labels": _LABELS}
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta,
            "rules": [
                _rule(["coordination.k8s.io"], ["leases"], ["create"]),
                _rule(
                    ["coordination.k8s.io"],
                    ["leases"],
                    ["get", "update"],
                    [CONTROLLER_LEADER_LEASE, *shard_leases],
                ),
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta,
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": meta["name"],
            },
            "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": namespace}],
        },
    ]


def metrics_service(namespace: str) -> dict[str, Any]:
    """What Prometheus scrapes: by the prometheus.io annotations, or the ServiceMonitor in
    deploy/prometheus/."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": METRICS_SERVICE,
            "namespace": namespace,
            "labels": _LABELS,
            "annotations": {
                "prometheus.io/scrape": "true",
                "prometheus.io/port": str(METRICS_PORT),
                "prometheus.io/path": "/metrics",
            },
        },
        "spec": {
            "selector": {"app.kubernetes.io/name": NAME},
            "ports": [
                {
                    "name": "metrics",
                    "port": METRICS_PORT,
                    "targetPort": "metrics",
                    "protocol": "TCP",
                }
            ],
        },
    }


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _dump_all(docs: list[dict[str, Any]]) -> str:
    return HEADER + yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, width=100)


def _file_name(obj: dict[str, Any]) -> str:
    return f"{obj['kind'].lower()}-{obj['metadata']['name'].replace(':', '-')}.yaml"


def rendered() -> dict[str, str]:
    """Relative path under deploy/ -> content, for every generated file but deploy/crds."""
    out: dict[str, str] = {}
    crd_files = [f"{GROUP}_{k.plural}.yaml" for k in KINDS]
    objs = objects()
    out["base/controller.yaml"] = _dump_all(objs)
    kustomization = HEADER + yaml.dump(
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": [f"../crds/{f}" for f in crd_files] + ["controller.yaml"],
        },
        Dumper=_Dumper,
        sort_keys=False,
    )
    out["base/kustomization.yaml"] = kustomization
    # The same with SHARDS_EXAMPLE controller shards (the Helm chart takes any number).
    out["sharded/controller.yaml"] = _dump_all(objects(shards=SHARDS_EXAMPLE))
    out["sharded/kustomization.yaml"] = kustomization
    chart = "charts/transom"
    out[f"{chart}/Chart.yaml"] = HEADER + yaml.dump(
        {
            "apiVersion": "v2",
            "name": "transom",
            "version": __version__,
            "appVersion": __version__,
            "type": "application",
            "description": "GitOps for Windows Server hosts, driven by Flux",
        },
        Dumper=_Dumper,
        sort_keys=False,
    )
    out[f"{chart}/values.yaml"] = HEADER + yaml.dump(
        {
            "image": {"repository": IMAGE, "tag": __version__},
            "ui": {"addr": UI_ADDR},
            # Controller shards: one Deployment (two replicas, a PDB, a Lease) per shard.
            "shards": 1,
        },
        Dumper=_Dumper,
        sort_keys=False,
    )
    for kind in KINDS:
        out[f"{chart}/crds/{GROUP}_{kind.plural}.yaml"] = HEADER + yaml.dump(
            crd(kind), Dumper=_Dumper, sort_keys=False, width=100
        )
    templated = objects(
        namespace="{{ .Release.Namespace }}",
        image="{{ .Values.image.repository }}:{{ .Values.image.tag }}",
        ui_addr="{{ .Values.ui.addr }}",
        shard_leases=[_SHARD_LEASES],
    )
    sharded = _controller(
        {"name": NAME, "namespace": "{{ $.Release.Namespace }}", "labels": _LABELS},
        "{{ $.Values.image.repository }}:{{ $.Values.image.tag }}",
        "{{ $.Values.ui.addr }}",
        "{{ $k }}",
        "{{ $.Values.shards }}",
    )
    for obj in templated:
        if obj["kind"] == "Namespace":
            continue  # Helm owns the release namespace
        text = _dump_all([obj])
        alike = [o for o in sharded if o["kind"] == obj["kind"]]
        if alike:
            text = _per_shard(text, _dump_all(alike)[len(HEADER) :])
        out[f"{chart}/templates/{_file_name(obj)}"] = _shard_leases(text)
    return out


#: Shards in deploy/sharded/ (the chart's `shards` value takes any number).
SHARDS_EXAMPLE = 2
_SHARD_LEASES = "__shard_leases__"


def _per_shard(single: str, shard: str) -> str:
    """A chart template: the object as is with one shard, one per shard with more."""
    return (
        single.replace(HEADER, HEADER + "{{- if le (int .Values.shards) 1 }}\n", 1)
        + "{{- else }}\n{{- range $k := until (int .Values.shards) }}\n---\n"
        + shard
        + "{{- end }}\n{{- end }}\n"
    )


def _shard_leases(text: str) -> str:
    """The leader-election Role names each shard's Lease (the placeholder's list item)."""
    lines = []
    for line in text.splitlines(keepends=True):
        if line.strip() == f"- {_SHARD_LEASES}":
            pad = line[: line.index("-")]
            lines += [
                f"{pad}{{{{- if gt (int .Values.shards) 1 }}}}\n",
                f"{pad}{{{{- range $k := until (int .Values.shards) }}}}\n",
                f"{pad}- {CONTROLLER_LEADER_LEASE}-shard-{{{{ $k }}}}\n",
                f"{pad}{{{{- end }}}}\n",
                f"{pad}{{{{- end }}}}\n",
            ]
        else:
            lines.append(line)
    return "".join(lines)


def write(deploy: Path) -> list[Path]:
    paths = []
    for rel, text in rendered().items():
        path = deploy / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths
