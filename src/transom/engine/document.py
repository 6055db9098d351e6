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
from yaml.events import (
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)
from yaml.nodes import ScalarNode

from transom.api.errors import FieldError, SpecError, from_pydantic, parse_problem
from transom.api.modes import Mode, RebootPolicy
from transom.api.resources import Resource, parse_resources

#: libyaml's parser when installed: ten times faster on a 500-resource document.
YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR = "tag:yaml.org,2002:str"
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
    """What ``yaml.safe_load`` returns, built in a third of the time from libyaml's events
    when the document is plain (string-keyed mappings, sequences and scalars, which a document
    nearly always is; numbers, booleans, null and timestamps by the safe constructor). Anything
    else (anchors, aliases, tags, merge keys, other keys, errors) is read again by
    ``yaml.safe_load``'s own loader."""
    loader = YAML_LOADER(text)
    try:
        return _from_events(loader)
    except (_NotPlainError, yaml.YAMLError):
        pass
    finally:
        loader.dispose()
    return yaml.load(text, Loader=YAML_LOADER)  # noqa: S506 - the safe loader (C or Python)


class _NotPlainError(Exception):
    """The document uses something only PyYAML's composer builds."""


_NO_KEY = object()


def _from_events(loader: Any) -> Any:  # PyYAML's stubs leave its event API untyped
    """The value of a plain single-document stream, built as libyaml parses it, skipping the
    node objects the composer would make; raises _NotPlainError for anything else."""
    get = loader.get_event
    if type(get()) is not StreamStartEvent or type(get()) is not DocumentStartEvent:
        raise _NotPlainError
    tags: dict[str, str] = {}  # plain scalar -> its implicit tag (no path resolvers: only it)
    open_: list[Any] = []  # the mappings and sequences being filled, innermost last
    keys: list[Any] = []  # for each: the key waiting for its value, or _NO_KEY
    while True:
        event = get()
        kind = type(event)
        value: Any
        if kind is ScalarEvent:
            if event.anchor is not None or event.tag is not None:
                raise _NotPlainError
            value = event.value
            if event.implicit[0]:
                tag = tags.get(value)
                if tag is None:
                    tag = tags[value] = loader.resolve(ScalarNode, value, event.implicit)
                if tag != _STR:
                    value = loader.construct_object(ScalarNode(tag, value), deep=True)
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            if event.anchor is not None or event.tag is not None:
                raise _NotPlainError
            value = {} if kind is MappingStartEvent else []
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            done = open_.pop()
            keys.pop()
            if open_:
                continue
            if type(get()) is DocumentEndEvent and type(get()) is StreamEndEvent:
                return done
            raise _NotPlainError  # more documents: the composer names the error
        else:
            raise _NotPlainError  # an alias, or an empty stream
        if open_:
            parent = open_[-1]
            if type(parent) is list:
                parent.append(value)
            elif keys[-1] is _NO_KEY:
                if type(value) is not str:
                    raise _NotPlainError
                keys[-1] = value
            else:
                parent[keys[-1]] = value  # a repeated key: the last wins, as in safe_load
                keys[-1] = _NO_KEY
        elif kind is ScalarEvent:
            raise _NotPlainError  # the document is one scalar
        if kind is MappingStartEvent or kind is SequenceStartEvent:
            open_.append(value)
            keys.append(_NO_KEY)


def substitute(raw: Any, variables: Mapping[str, str]) -> Any:
    """Replace ``${NAME}`` in every string; an undefined name is an error, not an empty
    string, so a forgotten ``--var ROOT=...`` cannot turn /srv/... into /..."""
    missing: set[str] = set()

    def one(m: re.Match[str]) -> str:
        if m.group(1) not in variables:
            missing.add(m.group(1))
            return m.group(0)
        return variables[m.group(1)]

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            # Most strings have no "${": the search is skipped, the result is the same.
            return _VARIABLE.sub(one, value) if "${" in value else value
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
