"""Request bodies carry every character as itself, readable as JSON and as YAML (the
apiserver decodes apply patches as YAML); the real apiserver round trip is
tests/integration/kube/test_client_unicode.py."""

from __future__ import annotations

import json

import yaml
from hypothesis import given
from hypothesis import strategies as st

from transom.kube.client import encode

scalars = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)


@given(st.dictionaries(scalars, scalars, max_size=4))
def test_json_and_yaml_read_back_what_was_sent(body: dict[str, str]) -> None:
    data = encode(body)
    assert b"\\ud8" not in data.lower() and b"\\udc" not in data.lower()  # no surrogate escapes
    assert json.loads(data) == body
    assert yaml.safe_load(data.decode("utf-8")) == body


def test_an_emoji_is_sent_as_utf8() -> None:
    assert encode({"v": "😀"}) == '{"v":"😀"}'.encode()


def test_a_lone_surrogate_becomes_the_replacement_character() -> None:
    assert json.loads(encode({"v": "a\udcff"})) == {"v": "a\ufffd"}
