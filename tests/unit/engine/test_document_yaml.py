"""load_yaml is yaml.safe_load, faster: the same value for every document, errors included."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from transom.engine.document import load_yaml

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(),
    st.sampled_from(["yes", "no", "0644", "1e3", "~", "null", "2026-12-01", "<<", "0x1f"]),
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(_values, st.sampled_from([None, True, False]))
def test_same_value_as_safe_load(value: Any, flow: bool | None) -> None:
    text = yaml.safe_dump(value, default_flow_style=flow, allow_unicode=True)
    assert load_yaml(text) == yaml.safe_load(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "base: &b {a: 1, b: [x, y]}\nother: *b\n",
        "base: &b {a: 1}\nmerged:\n  <<: *b\n  c: 2\n",
        "list: &l [1, 2]\nagain: *l\n",
        "when: 2026-12-01T10:00:00Z\nmode: 0644\nquoted: '0644'\nbin: !!binary aGk=\n",
        "a: 1\na: 2\n",
        "a: {x: 1}\na: [2]\n",
        "--- plain scalar\n",
        "--- {}\n...\n",
        "[]\n",
        "a: ! '1'\nb: !!str 2\nc: !!map {d: 1}\ns: !!set {x, y}\n",
        "~: null key\n1: int key\ntrue: bool key\n",
        "key:\nother: ~\nlist: [a, {b: c}, [d]]\n# a comment\n",
        "text: |\n  two\n  lines\nfolded: >\n  one\n  line\n",
    ],
)
def test_same_value_for_anchors_merges_and_typed_scalars(text: str) -> None:
    assert load_yaml(text) == yaml.safe_load(text)


def test_an_alias_is_the_same_object_as_its_anchor() -> None:
    value = load_yaml("a: &x [1]\nb: *x\n")
    assert value["a"] is value["b"]


def test_a_plain_document_is_built_from_events_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """The usual document (string keys, strings and numbers) never takes safe_load's path."""
    text = yaml.safe_dump(
        {
            "mode": "ApplyAndAutoCorrect",
            "resources": [
                {"name": "a", "file": {"path": "/a", "content": "x\ny\n", "mode": "0644"}},
                {"name": "b", "directory": {"path": "/b", "recurseDelete": True}},
                {"name": "c", "command": {"timeoutSeconds": 30, "env": {}, "args": []}},
            ],
        }
    )
    expected = yaml.safe_load(text)

    def composer(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("read twice")

    monkeypatch.setattr(yaml, "load", composer)
    assert load_yaml(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "a: [1, 2",
        "a: 1\n--- b\n",
        "a: 1\n  b: 2\n",
        "a: !!python/object:os.system x\n",
        "- a\nb: c\n",
        "? [a, b]\n: unhashable\n",
    ],
)
def test_what_safe_load_rejects_is_rejected(text: str) -> None:
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load(text)
    with pytest.raises(yaml.YAMLError):
        load_yaml(text)
