"""The CRDs, generated from the typed models; `make crds` writes them to deploy/crds/."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from transom.api.approval import Approval
from transom.api.assignment import Assignment
from transom.api.configuration import Configuration
from transom.api.host import Host
from transom.api.kinds import (
    APPROVALS,
    ASSIGNMENTS,
    CONFIGURATIONS,
    HOST_PREVIEWS,
    HOSTS,
    PREVIEWS,
    Kind,
)
from transom.api.preview import HostPreview, Preview
from transom.api.schema import structural
from transom.api.wire import GROUP, VERSION


@dataclass(frozen=True)
class CustomResource:
    """A Transom kind as a CRD: its model, short names and printer columns."""

    of: Kind
    model: type[BaseModel]
    short_names: tuple[str, ...]
    columns: tuple[dict[str, Any], ...]

    @property
    def kind(self) -> str:
        return self.of.kind

    @property
    def plural(self) -> str:
        return self.of.plural


def _ready(jsonpath_type: str = "Ready") -> tuple[dict[str, Any], dict[str, Any]]:
    cond = f'.status.conditions[?(@.type=="{jsonpath_type}")]'
    return (
        {"name": "Ready", "type": "string", "jsonPath": f"{cond}.status"},
        {"name": "Status", "type": "string", "jsonPath": f"{cond}.message", "priority": 1},
    )


_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}

KINDS: tuple[CustomResource, ...] = (
    CustomResource(
        CONFIGURATIONS,
        Configuration,
        ("tconf",),
        (
            _ready()[0],
            {
                "name": "Hosts",
                "type": "string",
                "jsonPath": ".status.summary",
                "description": "Hosts that applied this generation / hosts selected",
            },
            {"name": "Failed", "type": "integer", "jsonPath": ".status.failed"},
            {"name": "Revision", "type": "string", "jsonPath": ".status.revision"},
            _AGE,
            _ready()[1],
        ),
    ),
    CustomResource(
        ASSIGNMENTS,
        Assignment,
        ("tassign",),
        (
            _ready()[0],
            {
                "name": "Configuration",
                "type": "string",
                "jsonPath": ".spec.source.configuration.name",
            },
            {"name": "Generation", "type": "integer", "jsonPath": ".spec.source.generation"},
            {"name": "Revision", "type": "string", "jsonPath": ".spec.source.revision"},
            _AGE,
            _ready()[1],
        ),
    ),
    CustomResource(
        HOSTS,
        Host,
        ("thost",),
        (
            _ready()[0],
            {"name": "OS", "type": "string", "jsonPath": ".status.osName"},
            {"name": "Agent", "type": "string", "jsonPath": ".status.agentVersion"},
            {"name": "Heartbeat", "type": "date", "jsonPath": ".status.lastHeartbeatTime"},
            _AGE,
            _ready()[1],
        ),
    ),
    CustomResource(
        PREVIEWS,
        Preview,
        ("tpreview",),
        (
            _ready()[0],
            {"name": "Requested By", "type": "string", "jsonPath": ".spec.requestedBy"},
            {"name": "Expires", "type": "string", "jsonPath": ".status.expiresAt"},
            _AGE,
        ),
    ),
    CustomResource(
        HOST_PREVIEWS,
        HostPreview,
        ("thostpreview",),
        (
            {"name": "Configuration", "type": "string", "jsonPath": ".spec.configuration.name"},
            {"name": "Requested By", "type": "string", "jsonPath": ".spec.requestedBy"},
            {"name": "Answered", "type": "string", "jsonPath": ".status.answeredAt"},
            _AGE,
        ),
    ),
    CustomResource(
        APPROVALS,
        Approval,
        ("tapprove",),
        (
            {"name": "Configuration", "type": "string", "jsonPath": ".spec.configuration"},
            {"name": "Generation", "type": "integer", "jsonPath": ".spec.generation"},
            {"name": "Partition", "type": "string", "jsonPath": ".spec.partition"},
            {"name": "Approver", "type": "string", "jsonPath": ".spec.approver"},
            _AGE,
        ),
    ),
)


def crd(kind: CustomResource) -> dict[str, Any]:
    body = structural(kind.model.model_json_schema(by_alias=True, mode="validation"))
    props = body["properties"]
    schema = {
        "type": "object",
        "description": body.get("description", kind.kind),
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion of this object."},
            "kind": {"type": "string", "description": "Kind of this object."},
            "metadata": {"type": "object"},
            # An optional spec defaults to {} so its fields' defaults apply to a bare object.
            "spec": props["spec"]
            if "spec" in body.get("required", [])
            else {**props["spec"], "default": {}},
            "status": {**props["status"], "default": {"observedGeneration": -1}},
        },
        "required": ["spec"] if "spec" in body.get("required", []) else [],
    }
    if not schema["required"]:
        del schema["required"]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{kind.plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.kind.lower(),
                "shortNames": list(kind.short_names),
                "categories": ["transom"],
            },
            "scope": "Namespaced" if kind.of.namespaced else "Cluster",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": list(kind.columns),
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


HEADER = "# Generated from the typed models in src/transom/api by `make crds`. Do not edit.\n"


class _Dumper(yaml.SafeDumper):
    # Shared sub-schemas would otherwise become YAML anchors, which readers of a CRD don't expect.
    def ignore_aliases(self, data: Any) -> bool:
        return True


def render(kind: CustomResource) -> str:
    return HEADER + yaml.dump(crd(kind), Dumper=_Dumper, sort_keys=False, width=100)


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind in KINDS:
        path = directory / f"{GROUP}_{kind.plural}.yaml"
        path.write_text(render(kind), encoding="utf-8")
        paths.append(path)
    return paths


if __name__ == "__main__":
    from transom.api import deployment

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "deploy")
    for p in [*write(target / "crds"), *deployment.write(target)]:
        print(p)
