"""The `transom` command: a thin dispatcher. Each subcommand module exposes `register()`."""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys
from collections.abc import Sequence

from transom import __version__
from transom.cli import startup
from transom.cli.errors import DEBUG_ENV, EXIT_INTERRUPTED, report
from transom.cli.parsing import Parser

#: Subcommand modules, each with `register(subparsers)` that sets `func` on its parsers.
COMMANDS = (
    "transom.cli.dev",
    "transom.cli.apply",
    "transom.cli.controller",
    "transom.cli.agent",
    "transom.cli.status",
    "transom.cli.approve",
    "transom.cli.audit",
    "transom.cli.trace",
    "transom.cli.preview",
    "transom.cli.ui",
    "transom.cli.completion",
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
    p = Parser(prog="transom", description="GitOps for Windows Server hosts, driven by Flux.")
    p.add_argument("--version", action="version", version=f"transom {__version__}")
    p.add_argument(
        "--debug",
        action="store_true",
        help=f"show the traceback of an unexpected error (also: {DEBUG_ENV}=1)",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    startup.prepare()
    for module in _modules_for(sys.argv[1:] if argv is None else argv):
        importlib.import_module(module).register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; any failure becomes a short message and a non-zero exit (see
    `transom.cli.errors`), a traceback only with --debug."""
    # Start-up (importing a command's modules, building their models) makes many objects and
    # frees almost none: collecting meanwhile only costs time. Collection resumes for the
    # command itself, with what start-up made frozen out of it.
    collecting = gc.isenabled()
    gc.disable()
    try:
        args = parser(argv).parse_args(argv)
    finally:
        gc.freeze()
        if collecting:
            gc.enable()
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:
        if args.debug or os.environ.get(DEBUG_ENV) == "1":
            raise
        return report(exc)


if __name__ == "__main__":
    sys.exit(main())
