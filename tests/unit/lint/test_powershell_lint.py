"""tools/lint/powershell.py: each construct Windows PowerShell 5.1 lacks is caught, valid 5.1
passes, and scripts are found where Transom keeps them (.ps1, Python literals, examples)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip(
    "tree_sitter_powershell",
    reason="make lint runs on the development machine; the Windows lane has no tree-sitter",
)

from tools.lint.powershell import (
    Snippet,
    check,
    example_snippets,
    main,
    python_snippets,
)


def problems(script: str) -> list[str]:
    return [p.message for p in check(Snippet("t.ps1", 1, 1, script))]


@pytest.mark.parametrize(
    ("script", "construct"),
    [
        ("$x = $a ? 1 : 2", "ternary"),
        ("$x = $a ?? 'default'", "null-coalescing"),
        ("$a ??= 3", "null-coalescing"),
        ("$n = $service?.Name", "null-conditional"),
        ("$first = ${list}?[0]", "null-conditional"),
        ("Test-Path C:\\x && Remove-Item C:\\x", "pipeline chains"),
        ("Get-Service w3svc || Install-WindowsFeature Web-Server", "pipeline chains"),
        ("1..3 | ForEach-Object -Parallel { $_ }", "-Parallel"),
        ("$items | % -Parallel { $_ } -ThrottleLimit 4", "-Parallel"),
        ("$h = $json | ConvertFrom-Json -AsHashtable", "-AsHashtable"),
        ("$h = ConvertFrom-Json $json -AsHash", "-AsHashtable"),
        ("function f { process { $_ } clean { 'bye' } }", "clean {}"),
    ],
)
def test_each_powershell_7_construct_is_caught(script: str, construct: str) -> None:
    found = problems(script)
    assert len(found) == 1 and construct in found[0], found


@pytest.mark.parametrize(
    "script",
    [
        "if ($null -eq $a) { $x = 'default' } else { $x = $a }",
        "$h = @{ a = 1; b = @(1, 2) }; $h.a",
        "'a ? b : c'; \"x ?? y\"",
        "# ?? && || in a comment only",
        "Get-Item -Path C:\\x? -ErrorAction SilentlyContinue",
        "$items | ForEach-Object -Process { $_ } | Where-Object { $_ -gt 1 }",
        "ConvertFrom-Json $json | ForEach-Object { $_.name }",
        "function f { begin {} process { $_ } end { 'done' } }",
        "try { exit 3 } catch { $_.Exception.Message } finally { }",
    ],
)
def test_valid_windows_powershell_5_1_passes(script: str) -> None:
    assert problems(script) == []


def test_syntax_errors_fail_with_a_position() -> None:
    [problem] = check(Snippet("x.ps1", 10, 5, "Get-Item\nfunction f {"))
    assert (problem.line, problem.message) == (11, "syntax error: missing '}'")


def test_scripts_are_found_in_python_and_examples(tmp_path: Path) -> None:
    code = tmp_path / "m.py"
    code.write_text(
        "host.invoke('$a ?? 1')\n"
        "facade.run_command(\n    'exit 3', working_directory=None)\n"
        "sim.scripts['a && b'] = None\n"
        "other.call('$a ?? 1')\n"
    )
    found = list(python_snippets(code, "m.py"))
    assert [(s.line, s.text) for s in found] == [(1, "$a ?? 1"), (3, "exit 3"), (4, "a && b")]
    example = tmp_path / "e.yaml"
    example.write_text("spec:\n  resources:\n    - command: {test: 'x ?? y', set: 'ok'}\n")
    assert [s.text for s in example_snippets(example, "e.yaml")] == ["x ?? y", "ok"]


def test_the_repository_passes_and_a_bad_file_fails(tmp_path: Path) -> None:
    root = Path(__file__).parents[3]
    assert main([str(root)]) == 0
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "bad.ps1").write_text("$x = $y ?? 1\n")
    (tmp_path / "examples" / "windows").mkdir(parents=True)
    assert main([str(tmp_path)]) == 1
