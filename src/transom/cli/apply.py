"""`transom apply` and `transom test`: converge this host to a local document, or check it."""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from transom.api.conditions import SECRET_NOT_FOUND
from transom.api.errors import SpecError
from transom.cli.errors import CliError
from transom.engine.converge import Engine
from transom.engine.document import load_document
from transom.engine.policy import PERMISSIVE, load_policy
from transom.engine.provider import Provider, ProviderError, SecretResolver
from transom.engine.result import Action, ResourceOutcome, RunReport, Status
from transom.providers.posix import posix_providers

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_DRIFT = 2
PROGRESS_INTERVAL_SECONDS = 1.0

_LABELS = {
    Status.OK: "ok",
    Status.CHANGED: "changed",
    Status.WOULD_CHANGE: "would change",
    Status.DIFFERS: "differs",
    Status.DRIFTED: "drifted",
    Status.FAILED: "FAILED",
    Status.DENIED: "DENIED",
    Status.SKIPPED: "skipped",
    Status.REBOOT_PENDING: "reboot pending",
    Status.FLAPPING: "flapping",
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name, help_ in (
        ("apply", "converge this host to a document (change only what differs)"),
        ("test", "check this host against a document; exit 2 if anything differs"),
    ):
        p = subparsers.add_parser(name, help=help_, description=help_)
        p.add_argument(
            "-f",
            "--file",
            required=True,
            type=Path,
            metavar="FILE",
            help="document: resources, or a Configuration",
        )
        if name == "apply":
            p.add_argument("--what-if", action="store_true", help="show what would change, only")
            p.add_argument(
                "--state-dir",
                type=Path,
                help="record the applied state in this directory's journal",
            )
        p.add_argument(
            "--output", choices=("text", "json"), default="text", help="report format on stdout"
        )
        p.add_argument(
            "--policy",
            type=Path,
            metavar="FILE",
            help="host policy file (YAML or JSON) limiting what may be changed",
        )
        p.add_argument(
            "--secrets-dir",
            type=Path,
            help="Secret values as files DIR/<secret name>/<key>, as a mounted Secret volume",
        )
        p.add_argument(
            "--var",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="replace ${NAME} in the document",
        )
        p.set_defaults(func=run, action=name)


class DirectorySecrets:
    """Secrets from files DIR/<name>/<key>."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def resolve(self, name: str, key: str) -> bytes:
        if key in (".", "..") or name in (".", ".."):
            raise ProviderError(f"invalid secret reference {name}/{key}")
        try:
            return (self.root / name / key).read_bytes()
        except OSError:
            raise ProviderError(
                f"secret {name}/{key} not found under {self.root}", reason=SECRET_NOT_FOUND
            ) from None


class NoSecretsDir:
    """The resolver without --secrets-dir: a reference fails, saying how to provide it."""

    def resolve(self, name: str, key: str) -> bytes:
        raise ProviderError(
            f"secret {name}/{key} is needed: pass --secrets-dir DIR with the value in "
            f"DIR/{name}/{key}",
            reason=SECRET_NOT_FOUND,
        )


def host_providers(state_dir: Path | None = None) -> Mapping[str, Provider[Any]]:
    if sys.platform == "win32":
        # Imported by name: the windows backend pulls in pywin32, which only Windows has.
        windows = importlib.import_module("transom.providers.windows")
        providers: Mapping[str, Provider[Any]] = windows.windows_providers()
        return providers
    return posix_providers(str(state_dir / "cache") if state_dir else None)


class Progress:
    """A line on stderr at most once a second, and only once a run has taken a second."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.last = time.monotonic()

    def __call__(self, outcome: ResourceOutcome, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self.last >= PROGRESS_INTERVAL_SECONDS:
            print(f"[{done}/{total}] {outcome.kind}/{outcome.name}", file=self.out, flush=True)
            self.last = now


def run(args: argparse.Namespace) -> int:
    # One bounded run whose document and results live until exit: collecting cycles meanwhile
    # would free nothing and costs a tenth of the run.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _run(args)
    finally:
        if collecting:
            gc.enable()


def _run(args: argparse.Namespace) -> int:
    try:
        variables = dict(_variable(v) for v in args.var)
        document = load_document(args.file, variables)
        policy = load_policy(args.policy) if args.policy else PERMISSIVE
        secrets: SecretResolver = (
            DirectorySecrets(args.secrets_dir) if args.secrets_dir else NoSecretsDir()
        )
        state_dir = getattr(args, "state_dir", None)
        engine = Engine(host_providers(state_dir), policy=policy, secrets=secrets)
        plan = engine.plan(document.resources)
    except SpecError as exc:
        lines = "\n".join(f"  {error}" for error in exc.errors)
        raise CliError(f"{args.file}: invalid, nothing was applied:\n{lines}") from None
    except OSError as exc:
        raise CliError(f"{exc.filename or args.file}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise CliError(str(exc)) from None
    progress = Progress(sys.stderr)
    if args.action == "test":
        report = engine.test(plan, on_result=progress)
    else:
        report = engine.apply(plan, what_if=args.what_if, on_result=progress)
        if not args.what_if and state_dir is not None:
            # Imported when used: the journal's models are the agent's, not a plain apply's.
            from transom.engine.journal import Journal

            Journal(state_dir).record(
                plan.resources,
                document.mode,
                document.reboot_policy,
                file=str(args.file.resolve()),
            )
    if args.output == "json":
        print(json.dumps(report.to_json(), indent=2))
    else:
        print_report(report, sys.stdout)
    return exit_code(report)


def _variable(raw: str) -> tuple[str, str]:
    name, sep, value = raw.partition("=")
    if not sep or not name:
        raise ValueError(f"--var takes NAME=VALUE, got {raw!r}")
    return name, value


def exit_code(report: RunReport) -> int:
    if report.failed:
        return EXIT_ERROR
    if report.action is Action.TEST and not report.in_desired_state:
        return EXIT_DRIFT
    return EXIT_OK


def print_report(report: RunReport, out: TextIO) -> None:
    width = max((len(f"{r.kind}/{r.name}") for r in report.results), default=0)
    for r in report.results:
        line = f"{_LABELS[r.status]:<14} {r.kind + '/' + r.name:<{width}}"
        if r.message and not r.diff:
            line += f"  {r.message}"
        print(line.rstrip(), file=out)
        for d in r.diff:
            print(f"{'':<14}   {d.prop}: {d.actual!r} -> {d.desired!r}", file=out)
    reboot = "; a reboot is required" if report.reboot_required else ""
    print(f"{report.summary()} in {report.duration_ms / 1000:.2f} s{reboot}", file=out)
