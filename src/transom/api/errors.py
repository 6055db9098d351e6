"""Validation errors that name the field, the value and what is allowed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pydantic import ValidationError


@dataclass(frozen=True)
class FieldError:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class SpecError(ValueError):
    """A document failed validation; nothing was applied."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors = tuple(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


def parse_problem(exc: Exception) -> str:
    """A YAML or JSON parse error on one line: where, and what the parser found."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if mark is not None and problem:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return " ".join(str(exc).split())


def join_path(prefix: str, loc: Iterable[str | int]) -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else str(part)
    return path


def from_pydantic(prefix: str, error: ValidationError) -> list[FieldError]:
    out = []
    for e in error.errors(include_url=False):
        loc = [p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        message = e["msg"]
        if e["type"] not in {"missing", "extra_forbidden"} and "input" in e:
            value = e["input"]
            # Show the rejected value unless it is large or a mapping (which may hold secrets).
            if isinstance(value, (str, int, float, bool)) and len(repr(value)) <= 80:
                message = f"{message} (got {value!r})"
        if e["type"] == "extra_forbidden":
            message = "unknown field"
        out.append(FieldError(join_path(prefix, loc), message))
    return out
