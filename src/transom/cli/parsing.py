"""The argument parser every `transom` command uses: help that states each default, and a
two-line answer to a mistyped command instead of a page of usage."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any, NoReturn

#: Exit status of a command line argparse rejects (as argparse itself uses).
EXIT_USAGE = 2


def shows_default(action: argparse.Action) -> bool:
    """Whether an option's default is worth stating: not None, False, SUPPRESS or empty."""
    default = action.default
    if default is None or default is argparse.SUPPRESS or default is False:
        return False
    if isinstance(default, (list, tuple, dict, str)) and not default:
        return False
    return bool(action.option_strings) or action.nargs in (argparse.OPTIONAL, "*")


class HelpFormatter(argparse.HelpFormatter):
    """Appends "(default: X)" to an option's help unless the help already says its default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_ = action.help or ""
        if shows_default(action) and "default" not in help_:
            help_ += " (default: %(default)s)"
        return help_


class Parser(argparse.ArgumentParser):
    """Subparsers inherit this class (argparse passes the parent's type down), so every
    subcommand gets the formatter and the short error."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        for action in self._actions:
            missing = f"the following arguments are required: {action.metavar or action.dest}"
            if isinstance(action, argparse._SubParsersAction) and message.startswith(missing):
                message = f"missing command: one of {', '.join(action.choices)}"
        self.exit(
            EXIT_USAGE, f"{self.prog}: error: {message}\nsee `{self.prog} --help` for usage\n"
        )


def subparsers(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """The direct subcommands of ``parser``, by name (aliases skipped)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen: set[int] = set()
            for name, sub in action.choices.items():
                if id(sub) not in seen:
                    seen.add(id(sub))
                    yield name, sub


def leaves(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every runnable command: (words after `transom`, its parser), depth first."""
    children = list(subparsers(parser))
    if not children:
        yield path, parser
    for name, sub in children:
        yield from leaves(sub, (*path, name))


def walk(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every parser in the tree, the root first."""
    yield path, parser
    for name, sub in subparsers(parser):
        yield from walk(sub, (*path, name))
