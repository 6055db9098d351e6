"""The `transom` command: a thin dispatcher. Each subcommand module exposes `register()`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from transom import __version__

#: Subcommand modules, each with `register(subparsers)` that sets `func` on its parsers.
COMMANDS = (
    "transom.cli.dev",
    "transom.cli.apply",
    "transom.cli.controller",
    "transom.cli.agent",
    "transom.cli.status",
    "transom.cli.audit",
    "transom.cli.trace",
)


#: Subcommands registered by a module not named after them.
OWNERS = {"test": "transom.cli.apply"}


def _modules_for(argv: Sequence[str]) -> Sequence[str]:
    """Only the module of the subcommand being run (``transom.cli.<command>`` unless in
    OWNERS), so `transom apply` does not pay for importing the agent's HTTP stack; every
    module for help, --version or an unknown command."""
    command = next((a for a in argv if not a.startswith("-")), "")
    module = OWNERS.get(command, f"transom.cli.{command}")
    return (module,) if module in COMMANDS else COMMANDS


def parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="transom", description="GitOps for Windows Server hosts, driven by Flux."
    )
    p.add_argument("--version", action="version", version=f"transom {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in _modules_for(sys.argv[1:] if argv is None else argv):
        importlib.import_module(module).register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser(argv).parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
