"""The `transom` argparse tree, walked: every command and option, whoever added it."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from transom.cli.main import parser
from transom.cli.parsing import leaves, walk

#: Actions argparse adds itself, with their own help.
BUILTIN = (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)


def full_parser() -> argparse.ArgumentParser:
    return parser([])  # no command named: every subcommand module is registered


def commands() -> list[tuple[str, ...]]:
    return [path for path, _ in leaves(full_parser())]


def options() -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser, argparse.Action]]:
    for path, p in walk(full_parser()):
        for action in p._actions:
            if not isinstance(action, BUILTIN):
                yield path, p, action


def label(path: tuple[str, ...], action: argparse.Action | None = None) -> str:
    words = " ".join(("transom", *path))
    if action is None:
        return words
    return f"{words} {'/'.join(action.option_strings) or action.dest}"
