"""Per-host values in a Configuration: `$(host.name)` and `$(host.label.KEY)` in any string
property are replaced when the controller writes that host's Assignment, so what the agent
applies is written out in full (and auditable) in its Assignment.

`$(...)` rather than `${...}`: Flux's postBuild substitution owns `${...}` and would blank it.
`$$(` escapes a literal `$(`.
"""

from __future__ import annotations

import re
from typing import Any

_VAR = re.compile(r"\$\$\(|\$\(([^)]*)\)")


class SubstitutionError(ValueError):
    pass


def substitute_host(node: Any, host: str, labels: dict[str, str], path: str = "") -> Any:
    """A copy of ``node`` with host variables replaced in every string."""
    if isinstance(node, dict):
        return {
            k: substitute_host(v, host, labels, f"{path}.{k}" if path else k)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [substitute_host(v, host, labels, f"{path}[{i}]") for i, v in enumerate(node)]
    if not isinstance(node, str) or "$(" not in node:
        return node

    def replace(m: re.Match[str]) -> str:
        if m.group(0) == "$$(":
            return "$("
        name = m.group(1)
        if name == "host.name":
            return host
        if name.startswith("host.label."):
            key = name[len("host.label.") :]
            if key in labels:
                return labels[key]
            raise SubstitutionError(f"{path}: host {host} has no label {key!r} for $({name})")
        raise SubstitutionError(
            f"{path}: unknown variable $({name}); use $(host.name) or $(host.label.KEY), "
            "or $$( for a literal $("
        )

    return _VAR.sub(replace, node)
