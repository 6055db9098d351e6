"""The change observer (the audit trail's hook): told before and after every OS change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from transom.api.resources import Resource
from transom.engine.converge import Engine
from transom.engine.provider import State
from transom.engine.redact import REDACTED
from transom.engine.result import Status

from .helpers import Secrets, doc, file, posix_engine


class Recorder:
    def __init__(self, refuse: bool = False) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.refuse = refuse

    def before_set(self, resource: Resource, before: State, desired: State, *, drift: bool) -> Any:
        if self.refuse:
            raise OSError("audit log is full")
        self.calls.append(("before", resource.name, before, desired, drift))
        return len(self.calls)

    def after_set(
        self,
        token: Any,
        resource: Resource,
        after: State | None,
        *,
        error: str = "",
        reboot_required: bool = False,
    ) -> None:
        self.calls.append(("after", token, resource.name, after, error))


@pytest.mark.posix_only("posix file modes and the posix File provider")
def test_observer_hears_each_change_with_before_and_after_states(tmp_path: Path) -> None:
    recorder = Recorder()
    engine = posix_engine(observer=recorder)
    resources = doc(file("f", tmp_path / "f", content="v1", mode="0600"))
    engine.apply(resources)
    assert engine.apply(resources).results[0].status is Status.OK
    before, after = recorder.calls
    assert before[:3] == ("before", "f", {"ensure": "absent"})
    assert before[3]["mode"] == "0600" and not before[4]
    assert after[:3] == ("after", 1, "f")
    assert after[3]["mode"] == "0600" and after[4] == ""


def test_refusing_observer_stops_the_change(tmp_path: Path) -> None:
    engine = posix_engine(observer=Recorder(refuse=True))
    report = engine.apply(doc(file("f", tmp_path / "f")))
    assert report.results[0].status is Status.FAILED
    assert "audit log is full" in report.results[0].message
    assert not (tmp_path / "f").exists()


def test_observer_sees_secrets_redacted(tmp_path: Path) -> None:
    recorder = Recorder()
    target = tmp_path / "pw"
    target.write_text("old")
    secrets = Secrets({("db", "pw"): b"s3cr3t-value"})
    engine = Engine(posix_engine().providers, secrets=secrets, observer=recorder)
    ref = {"secretKeyRef": {"name": "db", "key": "pw"}}
    engine.apply(doc({"name": "pw", "file": {"path": str(target), "contentFrom": ref}}))
    assert target.read_text() == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(recorder.calls)
    inline = doc(file("c", tmp_path / "c", content="inline text"))
    engine.apply(inline)
    assert recorder.calls[-2][3]["content"] == REDACTED
