"""Turn a pydantic JSON schema into a Kubernetes structural OpenAPI v3 schema.

pydantic emits $ref/$defs, anyOf-with-null for optionals, titles and defaults of None; a CRD
needs every node typed, refs inlined, and Kubernetes extensions kept. Field descriptions and
constraints carry over, so `kubectl explain` documents exactly what the models validate.
"""

from __future__ import annotations

from typing import Any

_DROP = {"title", "additionalProperties", "discriminator", "examples"}
_INT_OR_STRING = "x-kubernetes-int-or-string"


def structural(schema: dict[str, Any]) -> dict[str, Any]:
    defs = schema.get("$defs", {})
    return _convert(schema, defs)


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _convert(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    node = _resolve(node, defs)
    if node.get(_INT_OR_STRING):
        kept = {k: v for k, v in node.items() if k not in {"anyOf", "type", "default", *_DROP}}
        if "default" in node:
            kept["default"] = node["default"]
        return kept
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if _resolve(o, defs).get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"cannot express union in a structural schema: {node}")
        merged = {**_resolve(options[0], defs), **{k: v for k, v in node.items() if k != "anyOf"}}
        if merged.get("default", 0) is None:
            del merged["default"]
        return _convert(merged, defs)
    if "allOf" in node and len(node["allOf"]) == 1:
        merged = {
            **_resolve(node["allOf"][0], defs),
            **{k: v for k, v in node.items() if k != "allOf"},
        }
        return _convert(merged, defs)
    if "const" in node:
        node = {**{k: v for k, v in node.items() if k != "const"}, "enum": [node["const"]]}

    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP or key == "$defs":
            continue
        if key == "properties":
            out["properties"] = {name: _convert(sub, defs) for name, sub in value.items()}
        elif key == "items":
            out["items"] = _convert(value, defs)
        else:
            out[key] = value
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    if out.get("type") == "object":
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            out["additionalProperties"] = _convert(extra, defs)
    if out.get("type") == "integer":
        out.setdefault("format", "int64")
    if "default" in out and out["default"] is None:
        del out["default"]
    # Empty defaults of lists/objects add noise to every stored object; the models supply them.
    if out.get("default") in ([], {}):
        del out["default"]
    return _ordered(out)


_FIRST = ("type", "description")


def _ordered(node: dict[str, Any]) -> dict[str, Any]:
    """type and description first, so the generated YAML reads like a hand-written CRD."""
    return {
        **{k: node[k] for k in _FIRST if k in node},
        **{k: v for k, v in node.items() if k not in _FIRST},
    }
