"""Removal is the provider's delete, called by the engine: never set with ensure: absent; test
and what-if derived from get as for any change; verified after; the audit intent first."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from transom.api.conditions import NOT_CONVERGED
from transom.api.resources.files import FileProperties
from transom.engine.converge import Engine
from transom.engine.provider import Context, SetOutcome
from transom.engine.result import Status

from .helpers import MemoryFiles, doc, file, posix_engine
from .test_observer import Recorder


def _absent(name: str, path: str) -> dict[str, object]:
    return {"name": name, "file": {"path": path, "ensure": "absent"}}


def test_removal_calls_delete_never_set_and_then_changes_nothing() -> None:
    files = MemoryFiles()
    files.files["/f"] = "old"
    engine = Engine({"File": files})
    report = engine.apply(doc(_absent("f", "/f")))
    assert report.results[0].status is Status.CHANGED and report.in_desired_state
    assert (files.deletes, files.sets) == (1, 0)
    assert "/f" not in files.files
    assert engine.apply(doc(_absent("f", "/f"))).results[0].status is Status.OK
    assert files.deletes == 1


def test_test_and_what_if_of_a_removal_delete_nothing() -> None:
    files = MemoryFiles()
    files.files["/f"] = "old"
    engine = Engine({"File": files})
    resources = doc(_absent("f", "/f"))
    what_if = engine.apply(resources, what_if=True).results[0]
    assert what_if.status is Status.WOULD_CHANGE
    assert [(d.prop, d.actual, d.desired) for d in what_if.diff] == [
        ("ensure", "present", "absent")
    ]
    assert engine.test(resources).results[0].status is Status.DIFFERS
    assert files.deletes == 0 and files.files == {"/f": "old"}


class StubbornFiles(MemoryFiles):
    """delete() claims success but the file stays."""

    kind: ClassVar[str] = "File"

    def delete(self, desired: FileProperties, ctx: Context) -> SetOutcome:
        self.deletes += 1
        return SetOutcome()


def test_a_delete_that_leaves_the_object_is_a_failure() -> None:
    files = StubbornFiles()
    files.files["/f"] = "old"
    result = Engine({"File": files}).apply(doc(_absent("f", "/f"))).results[0]
    assert result.status is Status.FAILED and result.reason == NOT_CONVERGED
    assert files.deletes == 1


def test_the_audit_intent_comes_before_the_delete_and_a_refusal_stops_it(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_text("keep")
    refused = posix_engine(observer=Recorder(refuse=True)).apply(doc(_absent("f", str(target))))
    assert refused.results[0].status is Status.FAILED and target.exists()
    recorder = Recorder()
    posix_engine(observer=recorder).apply(doc(_absent("f", str(target))))
    assert not target.exists()
    before, after = recorder.calls
    assert before[:4] == (
        "before",
        "f",
        {"ensure": "present", "path": str(target)},
        {
            "ensure": "absent",
            "path": str(target),
        },
    )
    assert after[:5] == ("after", 1, "f", {"ensure": "absent"}, "")


def test_absent_already_calls_nothing_that_changes() -> None:
    files = MemoryFiles()
    report = Engine({"File": files}).apply(doc(_absent("f", "/f"), file("g", "/g")))
    assert [r.status for r in report.results] == [Status.OK, Status.CHANGED]
    assert (files.deletes, files.sets) == (0, 1)
