"""The CRDs in deploy/crds are generated from the models and must be up to date."""

from __future__ import annotations

from pathlib import Path

import pytest

from transom.api.crds import KINDS, crd, render
from transom.api.wire import GROUP


@pytest.mark.parametrize("kind", KINDS, ids=[k.kind for k in KINDS])
def test_generated_crd_is_up_to_date(kind: object, repo_root: Path) -> None:
    path = repo_root / "deploy" / "crds" / f"{GROUP}_{kind.plural}.yaml"  # type: ignore[attr-defined]
    assert path.exists(), f"{path} missing: run `make crds`"
    assert path.read_text(encoding="utf-8") == render(kind), (  # type: ignore[arg-type]
        f"{path.name} is stale: a model changed without `make crds`"
    )


def _walk(node: object, path: str = "") -> list[str]:
    """Paths of schema nodes that are not structural (no type and no int-or-string)."""
    bad: list[str] = []
    if isinstance(node, dict):
        if ("properties" in node or "items" in node) and "type" not in node:
            bad.append(path)
        for key, value in node.get("properties", {}).items():
            if (
                "type" not in value
                and not value.get("x-kubernetes-int-or-string")
                and not value.get("x-kubernetes-preserve-unknown-fields")
            ):
                bad.append(f"{path}.{key}")
            bad += _walk(value, f"{path}.{key}")
        if "items" in node:
            bad += _walk(node["items"], f"{path}[]")
    return bad


@pytest.mark.parametrize("kind", KINDS, ids=[k.kind for k in KINDS])
def test_schema_is_structural_and_documented(kind: object) -> None:
    schema = crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]  # type: ignore[arg-type]
    assert _walk(schema) == []
    spec = schema["properties"]["spec"]
    undocumented = [k for k, v in spec.get("properties", {}).items() if not v.get("description")]
    assert undocumented == []
    assert schema["properties"]["status"]["default"] == {"observedGeneration": -1}
    assert schema["properties"]["status"]["properties"]["observedGeneration"]["default"] == -1


def test_every_resource_type_contributes_its_schema() -> None:
    from transom.api.resources import RESOURCE_TYPES

    conf = next(k for k in KINDS if k.kind == "Configuration")
    item = crd(conf)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "properties"
    ]["resources"]["items"]
    for member, model in RESOURCE_TYPES.items():
        assert member in item["properties"], member
        props = item["properties"][member]["properties"]
        for name, field in model.model_fields.items():
            assert (field.alias or name) in props, f"{member}.{field.alias or name}"
            assert props[field.alias or name].get("description"), f"{member}.{name} undocumented"
