"""Counts of hosts given as an integer or a percentage of the selection (Kubernetes'
IntOrString), with the one CEL rule and the one Python check that accept them."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field

PERCENT_PATTERN = r"^(100|[1-9][0-9]?)%$"

IntOrPercent = Annotated[
    int | str,
    Field(json_schema_extra={"x-kubernetes-int-or-string": True}),
]


def int_or_percent_rule(field: str, minimum: int) -> dict[str, str]:
    return {
        "rule": f"type(self.{field}) == int ? self.{field} >= {minimum} : "
        f"string(self.{field}).matches('{PERCENT_PATTERN}')",
        "message": f"{field} must be an integer >= {minimum} or a percentage "
        "from 1% to 100% (e.g. 25%)",
        "fieldPath": f".{field}",
    }


def check_int_or_percent(value: int | str, field: str, minimum: int) -> int | str:
    ok = value >= minimum if isinstance(value, int) else bool(re.match(PERCENT_PATTERN, value))
    if not ok:
        raise ValueError(
            f"{field} must be an integer >= {minimum} or a percentage from 1% to 100% "
            f"(got {value!r})"
        )
    return value
