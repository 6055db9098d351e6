"""Secrets never reach results, JSON output or log records."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transom.api.resources.files import FileProperties
from transom.engine.converge import Engine
from transom.engine.provider import Change, Context, ProviderError, SetOutcome
from transom.engine.redact import REDACTED, Redactor
from transom.engine.result import Status

from .helpers import MemoryFiles, Secrets, doc, file, posix_engine

SECRET = "hunter2-correct-horse"
SECRETS = Secrets({("db", "password"): SECRET.encode()})


def _from_secret(name: str, path: Path | str) -> dict[str, object]:
    return {
        "name": name,
        "file": {
            "path": str(path),
            "contentFrom": {"secretKeyRef": {"name": "db", "key": "password"}},
        },
    }


def _everything(report_json: object, caplog: pytest.LogCaptureFixture) -> str:
    logs = "\n".join(r.getMessage() for r in caplog.records)
    return json.dumps(report_json) + logs


def test_secret_file_drift_shows_no_value(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    target = tmp_path / "db.pass"
    target.write_text("something else")
    engine = posix_engine(secrets=SECRETS)
    looked = engine.test(doc(_from_secret("pw", target)))
    assert looked.results[0].status is Status.DIFFERS
    applied = engine.apply(doc(_from_secret("pw", target)))
    assert applied.results[0].changed
    assert target.read_text() == SECRET
    assert SECRET not in _everything([looked.to_json(), applied.to_json()], caplog)


class LeakyFiles(MemoryFiles):
    """A provider whose error message quotes the secret it was given."""

    kind: ClassVar[str] = "File"

    def set(
        self, desired: FileProperties, changes: Mapping[str, Change], ctx: Context
    ) -> SetOutcome:
        assert desired.content_from is not None
        ref = desired.content_from.secret_key_ref
        value = ctx.secrets.resolve(ref.name, ref.key).decode()
        logging.getLogger("transom.test").info("provider failed")
        raise ProviderError(f"cannot write {value!r} to {desired.path}")


def test_secret_quoted_by_a_provider_is_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    report = Engine({"File": LeakyFiles()}, secrets=SECRETS).apply(doc(_from_secret("pw", "/p")))
    result = report.results[0]
    assert result.status is Status.FAILED
    assert result.message == f"cannot write '{REDACTED}' to /p"
    assert SECRET not in _everything(report.to_json(), caplog)
    assert SECRET not in result.to_result().model_dump_json()


def test_secret_fields_are_redacted_in_diffs(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("before")
    report = posix_engine().apply(doc(file("f", tmp_path / "f", content="after")), what_if=True)
    [entry] = report.results[0].diff
    assert (entry.prop, entry.actual, entry.desired) == ("content", REDACTED, REDACTED)


def test_redactor_replaces_longest_secret_first_and_stripped_forms() -> None:
    r = Redactor()
    r.add(b"abc")
    r.add(b"abcdef\n")
    assert r.text("x abcdef y abc") == f"x {REDACTED} y {REDACTED}"
    assert r.value({"a": ["abc", 1]}) == {"a": [REDACTED, 1]}


@settings(max_examples=50, deadline=None)
@given(secret=st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=8, max_size=40))
def test_no_secret_value_survives_into_results(secret: str) -> None:
    secrets = Secrets({("db", "password"): secret.encode()})
    report = Engine({"File": LeakyFiles()}, secrets=secrets).apply(doc(_from_secret("pw", "/p")))
    rendered = json.dumps(report.to_json(), ensure_ascii=False)
    assert secret not in rendered and secret.strip() not in rendered
    assert REDACTED in report.results[0].message
