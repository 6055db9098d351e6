"""Every option of every command says what it does and, when it has one, its default."""

from __future__ import annotations

import argparse

import pytest

from transom.cli.parsing import HelpFormatter, Parser, shows_default, subparsers

from .tree import full_parser, label, options


def expanded_help(p: argparse.ArgumentParser, action: argparse.Action) -> str:
    """The help line as `--help` prints it, placeholders filled in."""
    return p._get_formatter()._expand_help(action)


def test_the_tree_is_walked() -> None:
    found = {label(path, a) for path, _, a in options()}
    # A few of the options the walk must reach, at every depth.
    assert {
        "transom --debug",
        "transom agent run --state-dir",
        "transom enroll-token create --ttl",
        "transom dev controlplane up --dir",
    } <= found


def test_every_option_has_help() -> None:
    missing = [label(path, a) for path, _, a in options() if not (a.help or "").strip()]
    assert not missing, f"options without help text: {missing}"


def test_every_default_is_stated() -> None:
    unstated = []
    for path, p, action in options():
        if shows_default(action):
            shown = expanded_help(p, action)
            if str(action.default) not in shown:
                unstated.append(f"{label(path, action)} (default {action.default!r}): {shown!r}")
    assert not unstated, f"help that omits the default: {unstated}"


def test_every_command_has_help() -> None:
    def walk(p: argparse.ArgumentParser, path: tuple[str, ...]) -> list[str]:
        out = []
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                described = {c.dest for c in action._choices_actions if c.help}
                out += [f"{' '.join(path)} {n}" for n in action.choices if n not in described]
        for name, sub in subparsers(p):
            out += walk(sub, (*path, name))
        return out

    assert not walk(full_parser(), ("transom",))


def test_formatter_adds_a_missing_default_and_keeps_a_stated_one() -> None:
    p = Parser(prog="x")
    p.add_argument("--interval", type=float, default=2.5, help="how often")
    p.add_argument("--mode", default="fast", help="speed (default: %(default)s)")
    p.add_argument("--flag", action="store_true", help="a switch")
    p.add_argument("--name", help="a name")
    text = p.format_help()
    assert "how often (default: 2.5)" in " ".join(text.split())
    assert "speed (default: fast)" in text and text.count("default") == 2
    assert isinstance(p._get_formatter(), HelpFormatter)


def test_a_wrong_default_in_help_is_caught() -> None:
    p = Parser(prog="x")
    action = p.add_argument("--ttl", default="1h", help="token lifetime (default: 30m)")
    assert "1h" not in expanded_help(p, action)


@pytest.mark.parametrize("argv", [["--bogus"], ["agent", "--bogus"], ["agent"]])
def test_bad_command_line_is_two_lines_and_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        full_parser().parse_args(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "error:" in err[0] and "--help" in err[1]
