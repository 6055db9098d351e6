"""Applying: dependency order, skips, what-if, test, verification, idempotence."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transom.api.assignment import ResourceResult
from transom.api.conditions import DEPENDENCY_NOT_READY, NOT_CONVERGED, PROVIDER_FAILED
from transom.api.resources.files import FileProperties
from transom.engine.converge import Engine
from transom.engine.provider import Change, Context, SetOutcome, State
from transom.engine.result import Status

from .helpers import MemoryFiles, directory, doc, file, posix_engine


def test_failed_resource_skips_its_dependents_and_independents_still_converge(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a directory must be")
    resources = doc(
        directory("broken", blocker),
        file("child", blocker / "child.conf", dependsOn=["broken"]),
        file("grandchild", tmp_path / "g", dependsOn=["child"]),
        file("independent", tmp_path / "free.conf", content="free"),
    )
    report = posix_engine().apply(resources)
    by_name = {r.name: r for r in report.results}
    assert by_name["broken"].status is Status.FAILED
    assert "not a directory" in by_name["broken"].message
    assert by_name["child"].skipped and by_name["child"].reason == DEPENDENCY_NOT_READY
    assert by_name["child"].message == "skipped: dependency 'broken' failed"
    assert by_name["grandchild"].message == "skipped: dependency 'child' was skipped"
    assert not (tmp_path / "g").exists()
    assert by_name["independent"].changed and by_name["independent"].in_desired_state
    assert (tmp_path / "free.conf").read_text() == "free"
    assert report.failed


def test_what_if_reports_changes_and_touches_nothing(tmp_path: Path) -> None:
    (tmp_path / "keep").write_text("old")
    resources = doc(
        directory("dir", tmp_path / "new"),
        file("f", tmp_path / "new" / "f", dependsOn=["dir"]),
        file("keep", tmp_path / "keep", content="new", mode="0600"),
    )
    report = posix_engine().apply(resources, what_if=True)
    assert [r.status for r in report.results] == [Status.WOULD_CHANGE] * 3
    assert {d.prop for d in report.results[2].diff} == {"content", "mode"}
    assert not (tmp_path / "new").exists()
    assert (tmp_path / "keep").read_text() == "old"


def test_test_reports_differences_without_changing(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("old")
    report = posix_engine().test(doc(file("f", tmp_path / "f", content="new")))
    assert report.results[0].status is Status.DIFFERS
    assert not report.in_desired_state and not report.changed
    assert (tmp_path / "f").read_text() == "old"


@pytest.mark.posix_only("posix file modes and the posix File provider")
def test_apply_then_test_is_clean_and_second_apply_changes_nothing(tmp_path: Path) -> None:
    resources = doc(
        directory("d", tmp_path / "d", mode="0750"),
        file("f", tmp_path / "d" / "f", content="hello", mode="0640", dependsOn=["d"]),
    )
    engine = posix_engine()
    first = engine.apply(resources)
    assert first.changed and first.in_desired_state
    assert oct((tmp_path / "d" / "f").stat().st_mode & 0o777) == "0o640"
    second = engine.apply(resources)
    assert not second.changed
    assert [r.status for r in second.results] == [Status.OK, Status.OK]


class LyingFiles(MemoryFiles):
    """set() claims success but changes nothing."""

    kind: ClassVar[str] = "File"

    def set(
        self, desired: FileProperties, changes: Mapping[str, Change], ctx: Context
    ) -> SetOutcome:
        return SetOutcome()


def test_set_that_does_not_converge_is_a_failure() -> None:
    report = Engine({"File": LyingFiles()}).apply(doc(file("f", "/f")))
    assert report.results[0].status is Status.FAILED
    assert report.results[0].reason == NOT_CONVERGED


class CrashingFiles(MemoryFiles):
    kind: ClassVar[str] = "File"

    def get(self, desired: FileProperties, ctx: Context) -> State:
        raise RuntimeError("provider bug")


def test_unexpected_provider_exception_fails_one_resource_not_the_run() -> None:
    report = Engine({"File": CrashingFiles()}).apply(doc(file("f", "/f")))
    assert report.results[0].reason == PROVIDER_FAILED
    assert report.results[0].message == "RuntimeError: provider bug"


def test_results_map_onto_the_assignment_status_shape(tmp_path: Path) -> None:
    report = posix_engine().apply(doc(file("f", tmp_path / "f")))
    result = report.results[0].to_result()
    assert isinstance(result, ResourceResult)
    assert result.model_dump(by_alias=True)["inDesiredState"] is True
    assert result.changed and result.type == "File"
    assert report.to_json()["results"][0]["diff"] == [
        {"property": "ensure", "actual": "absent", "desired": "present"}
    ]


def test_progress_callback_sees_every_resource(tmp_path: Path) -> None:
    seen: list[tuple[str, int, int]] = []
    posix_engine().apply(
        doc(file("a", tmp_path / "a"), file("b", tmp_path / "b")),
        on_result=lambda r, done, total: seen.append((r.name, done, total)),
    )
    assert seen == [("a", 1, 2), ("b", 2, 2)]


# -- property: a second run changes nothing -------------------------------------------------

_text = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters='\r"'), max_size=40)
_modes = st.sampled_from([None, "0600", "0640", "0644", "0755", "0700"])
_spec = st.fixed_dictionaries(
    {
        "dirs": st.lists(
            st.tuples(st.sampled_from(["etc", "srv", "var", "opt"]), _modes),
            unique_by=lambda t: t[0],
            max_size=4,
        ),
        "files": st.lists(st.tuples(st.integers(0, 3), _text, _modes, st.booleans()), max_size=8),
        "env": st.lists(
            st.tuples(
                st.sampled_from(["A", "B_2", "PATH_X"]), _text.filter(lambda s: "\n" not in s)
            ),
            unique_by=lambda t: t[0],
            max_size=3,
        ),
    }
)


def _build(spec: dict[str, Any], root: Path) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    dirs = [name for name, _ in spec["dirs"]]
    for name, mode in spec["dirs"]:
        items.append(directory(f"d-{name}", root / name, **({"mode": mode} if mode else {})))
    for i, (parent, content, mode, absent) in enumerate(spec["files"]):
        where = root / dirs[parent % len(dirs)] if dirs else root
        extra: dict[str, Any] = {"mode": mode} if mode else {}
        if dirs:
            extra["dependsOn"] = [f"d-{dirs[parent % len(dirs)]}"]
        if absent:
            items.append(
                {"name": f"f{i}", "file": {"path": str(where / f"f{i}"), "ensure": "absent"}}
            )
            if dirs:
                items[-1]["dependsOn"] = extra["dependsOn"]
        else:
            items.append(file(f"f{i}", where / f"f{i}", content, **extra))
    for name, value in spec["env"]:
        items.append(
            {
                "name": f"env-{name}".lower().replace("_", "-"),
                "environmentVariable": {"name": name, "value": value, "file": str(root / "env")},
            }
        )
    return items


@pytest.mark.posix_only("posix file modes and the posix File provider")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=_spec)
def test_second_run_changes_nothing(spec: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        resources = doc(*_build(spec, root))
        engine = posix_engine()
        first = engine.apply(resources)
        assert not first.failed, first.to_json()
        assert first.in_desired_state
        second = engine.apply(resources)
        assert not second.changed, second.to_json()
        assert all(r.status is Status.OK for r in second.results)
        assert engine.test(resources).in_desired_state
