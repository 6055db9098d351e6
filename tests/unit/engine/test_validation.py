"""The whole document is validated before anything runs: nothing is applied when it fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from transom.api.errors import SpecError
from transom.api.resources import parse_resources
from transom.engine.converge import Engine
from transom.engine.document import load_document, parse_document
from transom.engine.graph import check_acyclic, topological_order

from .helpers import MemoryFiles, directory, doc, file, posix_engine


def test_cycle_error_names_the_cycle_and_nothing_runs() -> None:
    provider = MemoryFiles()
    engine = Engine({"File": provider})
    resources = doc(
        file("a", "/a", dependsOn=["c"]),
        file("b", "/b", dependsOn=["a"]),
        file("c", "/c", dependsOn=["b"]),
        file("d", "/d"),
    )
    with pytest.raises(SpecError) as err:
        engine.apply(resources)
    [error] = err.value.errors
    assert error.path == "resources[0].dependsOn"
    assert error.message == "dependency cycle: a -> c -> b -> a"
    assert provider.gets == provider.sets == 0


def test_topological_order_puts_dependencies_first_and_keeps_document_order() -> None:
    resources = doc(
        file("late", "/l", dependsOn=["base"]),
        file("free", "/f"),
        file("base", "/b"),
        file("top", "/t", dependsOn=["late", "free"]),
    )
    check_acyclic(resources)
    assert [r.name for r in topological_order(resources)] == ["free", "base", "late", "top"]


def test_invalid_property_names_resource_and_field_and_nothing_is_applied(tmp_path: Path) -> None:
    target = tmp_path / "good.txt"
    (tmp_path / "doc.yaml").write_text(
        f"""
resources:
  - name: good
    file: {{path: {target}, content: hello}}
  - name: bad
    file: {{path: {tmp_path}/bad, mode: "999"}}
"""
    )
    with pytest.raises(SpecError) as err:
        load_document(tmp_path / "doc.yaml")
    assert [e.path for e in err.value.errors] == ["resources[1].file.mode"]
    assert not target.exists()


@pytest.mark.parametrize(
    ("raw", "path", "fragment"),
    [
        ([{"name": "x", "fil": {"path": "/x"}}], "resources[0].fil", "unknown resource type"),
        ([file("x", "/x"), file("x", "/y")], "resources[1].name", "duplicate name"),
        ([file("x", "/x", dependsOn=["nope"])], "resources[0].dependsOn[0]", "no resource named"),
        ([file("x", "relative/x")], "resources[0].file.path", "should match pattern"),
        (
            [{"name": "c", "command": {"test": "true", "set": "true", "ensure": "absent"}}],
            "resources[0].command",
            "only ensure: present",
        ),
        (
            [{"name": "a", "archive": {"path": "/srv/app"}}],
            "resources[0].archive",
            "needs source and sha256",
        ),
    ],
)
def test_document_errors(raw: list[dict[str, object]], path: str, fragment: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_resources(raw)
    assert any(e.path == path and fragment in e.message for e in err.value.errors)


def test_two_resources_managing_one_object_conflict(tmp_path: Path) -> None:
    resources = doc(file("one", tmp_path / "f"), file("two", tmp_path / "f", content="y"))
    with pytest.raises(SpecError) as err:
        posix_engine().apply(resources)
    assert err.value.errors[0].path == "resources[1]"
    assert "'one'" in err.value.errors[0].message
    assert not (tmp_path / "f").exists()


def test_type_without_provider_on_this_host_is_rejected_before_anything_runs() -> None:
    provider = MemoryFiles()
    resources = doc(file("f", "/f"), directory("d", "/d"))
    with pytest.raises(SpecError) as err:
        Engine({"File": provider}).apply(resources)
    assert err.value.errors[0].path == "resources[1].directory"
    assert "not supported on this host" in err.value.errors[0].message
    assert provider.gets == 0


def test_configuration_object_is_accepted_and_its_spec_used() -> None:
    document = parse_document(
        {
            "apiVersion": "transom.dev/v1alpha1",
            "kind": "Configuration",
            "metadata": {"name": "web"},
            "spec": {
                "hostSelector": {"matchLabels": {"role": "web"}},
                "mode": "ApplyAndMonitor",
                "resources": [file("f", "/f")],
            },
        }
    )
    assert document.mode.value == "ApplyAndMonitor"
    assert [r.name for r in document.resources] == ["f"]


def test_configuration_errors_are_named_under_spec() -> None:
    with pytest.raises(SpecError) as err:
        parse_document({"kind": "Configuration", "spec": {"resources": [{"name": "x"}]}})
    assert err.value.errors[0].path == "spec.resources[0]"


def test_unknown_top_level_field_and_undefined_variable(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="resource: unknown field"):
        parse_document({"resource": []})
    (tmp_path / "d.yaml").write_text("resources:\n  - name: a\n    file: {path: '${ROOT}/a'}\n")
    with pytest.raises(SpecError, match=r"undefined variable \$\{ROOT\}"):
        load_document(tmp_path / "d.yaml")
    document = load_document(tmp_path / "d.yaml", {"ROOT": "/srv"})
    assert document.resources[0].properties.identity() == "path:/srv/a"
