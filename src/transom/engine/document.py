"""The local document format read by ``transom apply``: ``resources`` (as a Configuration's
``spec.resources``), optional ``mode`` and ``rebootPolicy``; or a whole Configuration object,
whose spec is used."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from transom.api.errors import FieldError, SpecError, from_pydantic, parse_problem
from transom.api.modes import Mode, RebootPolicy
from transom.api.resources import Resource, parse_resources

#: libyaml's parser when installed: ten times faster on a 500-resource document.
YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR, _MAP, _SEQ = (f"tag:yaml.org,2002:{t}" for t in ("str", "map", "seq"))
_DOCUMENT_FIELDS = {"resources", "mode", "rebootPolicy"}
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Document:
    resources: tuple[Resource, ...]
    mode: Mode = Mode.APPLY_AND_AUTO_CORRECT
    reboot_policy: RebootPolicy = field(default_factory=RebootPolicy)


def load_document(path: Path, variables: Mapping[str, str] | None = None) -> Document:
    """Read and validate a document file; raises SpecError with every problem at once."""
    try:
        raw = load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SpecError([FieldError(str(path), f"not valid YAML: {parse_problem(exc)}")]) from None
    return parse_document(substitute(raw, variables or {}))


def load_yaml(text: str) -> Any:
    """What ``yaml.safe_load`` returns, built in half the time: string-keyed mappings,
    sequences and strings (nearly all of a document) directly from libyaml's nodes, every
    other node (numbers, booleans, null, timestamps, merge keys) by the safe constructor."""
    loader = YAML_LOADER(text)
    try:
        node = loader.get_single_node()
        return None if node is None else _build(loader, node, {})
    finally:
        loader.dispose()


def _build(loader: yaml.SafeLoader, node: yaml.Node, built: dict[int, Any]) -> Any:
    # ``built`` keeps an anchor's object shared by its aliases, as the constructor does.
    if node.tag == _STR:
        return node.value
    if id(node) in built:
        return built[id(node)]
    if node.tag == _SEQ:
        items: list[Any] = []
        built[id(node)] = items
        items.extend(_build(loader, item, built) for item in node.value)
        return items
    if node.tag == _MAP and all(key.tag == _STR for key, _ in node.value):
        mapping: dict[str, Any] = {}
        built[id(node)] = mapping
        for key, value in node.value:
            mapping[key.value] = _build(loader, value, built)
        return mapping
    return loader.construct_object(node, deep=True)


def substitute(raw: Any, variables: Mapping[str, str]) -> Any:
    """Replace ``${NAME}`` in every string; an undefined name is an error, not an empty
    string, so a forgotten ``--var ROOT=...`` cannot turn /srv/... into /..."""
    missing: set[str] = set()

    def walk(value: Any) -> Any:
        if isinstance(value, str):

            def one(m: re.Match[str]) -> str:
                if m.group(1) not in variables:
                    missing.add(m.group(1))
                    return m.group(0)
                return variables[m.group(1)]

            return _VARIABLE.sub(one, value)
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    out = walk(raw)
    if missing:
        hint = "undefined variable ${{{}}}; pass --var {}=..."
        raise SpecError([FieldError("", hint.format(n, n)) for n in sorted(missing)])
    return out


def parse_document(raw: Any) -> Document:
    if not isinstance(raw, Mapping):
        raise SpecError([FieldError("", "the document must be a mapping with resources")])
    prefix = ""
    if raw.get("kind") == "Configuration":
        raw = raw.get("spec")
        prefix = "spec."
        if not isinstance(raw, Mapping):
            raise SpecError([FieldError("spec", "must be a mapping")])
    else:
        errors = [FieldError(k, "unknown field") for k in raw if k not in _DOCUMENT_FIELDS]
        if errors:
            raise SpecError(errors)
    resources = parse_resources(raw.get("resources"), f"{prefix}resources")
    try:
        mode = Mode(raw.get("mode", Mode.APPLY_AND_AUTO_CORRECT))
    except ValueError:
        allowed = ", ".join(m.value for m in Mode)
        raise SpecError([FieldError(f"{prefix}mode", f"must be one of {allowed}")]) from None
    try:
        reboot = RebootPolicy.model_validate(raw.get("rebootPolicy") or {})
    except ValidationError as exc:
        raise SpecError(from_pydantic(f"{prefix}rebootPolicy", exc)) from None
    return Document(tuple(resources), mode, reboot)
