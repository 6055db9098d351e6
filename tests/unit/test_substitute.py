from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transom.controller.substitute import SubstitutionError, substitute_host


def test_host_name_and_labels_are_replaced_everywhere() -> None:
    doc: list[dict[str, Any]] = [
        {
            "name": "f",
            "file": {
                "path": "/srv/$(host.name)/app.conf",
                "content": "env=$(host.label.env) x=$$(literal)",
            },
        }
    ]
    out = substitute_host(doc, "web01", {"env": "prod"})
    assert out[0]["file"] == {"path": "/srv/web01/app.conf", "content": "env=prod x=$(literal)"}
    assert doc[0]["file"]["path"] == "/srv/$(host.name)/app.conf"  # input untouched


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("$(host.label.zone)", "no label 'zone'"),
        ("$(hostname)", "unknown variable $(hostname)"),
    ],
)
def test_unknown_variables_name_the_field(text: str, fragment: str) -> None:
    with pytest.raises(SubstitutionError) as info:
        substitute_host([{"file": {"content": text}}], "web01", {})
    assert "[0].file.content" in str(info.value) and fragment in str(info.value)


@given(st.text().filter(lambda s: "$" not in s))
def test_strings_without_variables_are_unchanged(text: str) -> None:
    assert substitute_host({"a": [text]}, "h", {}) == {"a": [text]}
