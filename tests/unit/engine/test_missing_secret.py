"""A missing Secret is reported by what-if and test as the failure apply will hit, not as a
change that would be made: a file that does not exist yet needs its Secret to be created."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from transom.api.conditions import DEPENDENCY_NOT_READY, SECRET_NOT_FOUND
from transom.engine.provider import ProviderError
from transom.engine.result import Status

from .helpers import Secrets, doc, file, posix_engine

PRESENT = ("db", "password")
VALUE = b"hunter2-correct-horse"


def from_secret(name: str, path: Path, secret: tuple[str, str], **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": name,
        "file": {
            "path": str(path),
            "contentFrom": {"secretKeyRef": {"name": secret[0], "key": secret[1]}},
        },
    }
    out.update(extra)
    return out


class NotFound(Secrets):
    """Like the agent's and the CLI's resolvers: a missing key is SecretNotFound."""

    def resolve(self, name: str, key: str) -> bytes:
        try:
            return self.values[(name, key)]
        except KeyError:
            raise ProviderError(f"secret {name}/{key} not found", reason=SECRET_NOT_FOUND) from None


SECRETS = NotFound({PRESENT: VALUE})


def test_what_if_fails_a_new_file_whose_secret_is_missing(tmp_path: Path) -> None:
    resources = doc(
        from_secret("key", tmp_path / "tls.key", ("web-tls", "tls.key")),
        file("after", tmp_path / "after", dependsOn=["key"]),
    )
    engine = posix_engine(secrets=SECRETS)
    key, after = engine.apply(resources, what_if=True).results
    assert key.status is Status.FAILED and key.reason == SECRET_NOT_FOUND
    assert "web-tls/tls.key" in key.message
    assert after.status is Status.SKIPPED and after.reason == DEPENDENCY_NOT_READY
    assert not (tmp_path / "tls.key").exists()
    applied = engine.apply(resources).results[0]
    assert applied.status is Status.FAILED and applied.reason == SECRET_NOT_FOUND


def test_test_fails_rather_than_differs_when_the_secret_is_missing(tmp_path: Path) -> None:
    resources = doc(from_secret("key", tmp_path / "tls.key", ("web-tls", "tls.key")))
    result = posix_engine(secrets=SECRETS).test(resources).results[0]
    assert result.status is Status.FAILED and result.reason == SECRET_NOT_FOUND


def test_what_if_with_the_secret_would_change_and_shows_no_value(tmp_path: Path) -> None:
    resources = doc(from_secret("pw", tmp_path / "db.pass", PRESENT))
    report = posix_engine(secrets=SECRETS).apply(resources, what_if=True)
    assert report.results[0].status is Status.WOULD_CHANGE
    assert VALUE.decode() not in str(report.to_json())
    assert not (tmp_path / "db.pass").exists()


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.booleans(), st.booleans()),  # (secret present, file exists already)
        min_size=1,
        max_size=6,
    )
)
def test_what_if_predicts_exactly_the_failures_apply_has(cases: list[tuple[bool, bool]]) -> None:
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        items = []
        for i, (present, exists) in enumerate(cases):
            path = root / f"f{i}"
            if exists:
                path.write_text("stale")
            items.append(from_secret(f"f{i}", path, PRESENT if present else ("gone", "key")))
        resources = doc(*items)
        engine = posix_engine(secrets=SECRETS)
        predicted = [r.failed for r in engine.apply(resources, what_if=True).results]
        actual = [r.failed for r in engine.apply(resources).results]
        assert predicted == actual == [not present for present, _ in cases]
