"""`transom agent install | uninstall | start | stop | status`: the agent as an OS service
(a Windows service, or a systemd unit elsewhere)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, NoReturn

from transom.agent.servicedef import SERVICE_NAME, RunOptions, service_command
from transom.cli.errors import CliError

ACCOUNT_HELP = (
    "Windows: run as this group managed service account (DOMAIN\\name$) instead of LocalSystem"
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], state_dir: Path) -> None:
    install = sub.add_parser(
        "install",
        help="install the agent as a service (Windows service, or systemd unit) and enable it",
    )
    install.add_argument(
        "--state-dir",
        type=Path,
        default=state_dir,
        metavar="DIR",
        help="the enrolled agent's state directory, passed to `agent run`",
    )
    install.add_argument("--config", type=Path, help="agent.yaml the service runs with")
    install.add_argument(
        "--root", action="append", default=[], help="passed to `agent run` (repeatable)"
    )
    install.add_argument("--policy", type=Path, help="host policy file, passed to `agent run`")
    install.add_argument(
        "--log-level",
        default="INFO",
        type=str.upper,
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="how much the service logs, passed to `agent run`",
    )
    install.add_argument("--account", help=ACCOUNT_HELP)
    install.add_argument(
        "--unit-dir",
        type=Path,
        help="posix: where the systemd unit is written (default /etc/systemd/system)",
    )
    install.add_argument("--start", action="store_true", help="start it once installed")
    install.set_defaults(func=_install)

    uninstall = sub.add_parser("uninstall", help="stop and remove the service")
    uninstall.add_argument("--unit-dir", type=Path, help="posix: where the unit was written")
    uninstall.add_argument(
        "--remove-event-source",
        action="store_true",
        help="Windows: also unregister the Transom Event Log source (old events lose their text)",
    )
    uninstall.set_defaults(func=_uninstall)

    for name, what in (("start", "start the service"), ("stop", "stop it gracefully")):
        cmd = sub.add_parser(name, help=what)
        cmd.add_argument("--unit-dir", type=Path, help="posix: where the unit was written")
        cmd.set_defaults(func=_control, action=name)

    status = sub.add_parser("status", help="is the service installed and running")
    status.add_argument("--unit-dir", type=Path, help="posix: where the unit was written")
    status.set_defaults(func=_status)


def _systemd(args: argparse.Namespace) -> Any:
    """systemctl only for systemd's own folder: a unit elsewhere is written, not loaded."""
    from transom.agent.systemd import UNIT_DIR, Systemd, find_systemctl

    unit_dir = args.unit_dir or UNIT_DIR
    return Systemd(unit_dir, find_systemctl() if unit_dir == UNIT_DIR else None)


def _fail(exc: BaseException) -> NoReturn:
    raise CliError(str(exc)) from None


def _install(args: argparse.Namespace) -> int:
    options = RunOptions(
        state_dir=args.state_dir.absolute(),
        config=args.config.absolute() if args.config else None,
        roots=tuple(args.root),
        policy=args.policy.absolute() if args.policy else None,
        log_level=args.log_level,
    )
    from transom.agent.statedir import StateDirError, secure_state_dir

    try:
        # Created private (Windows: protected DACL, SYSTEM and Administrators) before the
        # service first runs, and refused if someone else can already write to it.
        secure_state_dir(options.state_dir)
    except (StateDirError, OSError) as exc:
        _fail(exc)
    if os.name == "nt":
        from transom.agent import winservice

        try:
            created = winservice.install(
                service_command(options, windows_service=True), account=args.account
            )
            print(("installed " if created else "updated ") + SERVICE_NAME)
            if args.start:
                print("\n".join(winservice.start().lines()))
        except (winservice.ServiceError, OSError) as exc:
            _fail(exc)
        return 0
    from transom.agent.systemd import SystemdError

    if args.account:
        _fail(ValueError("--account is for Windows; systemd runs the agent as root"))
    systemd = _systemd(args)
    try:
        path = systemd.install(service_command(options))
        print(f"installed {path}")
        if args.start:
            systemd.start()
    except (SystemdError, OSError, ValueError) as exc:
        _fail(exc)
    return 0


def _uninstall(args: argparse.Namespace) -> int:
    if os.name == "nt":
        from transom.agent import winservice

        try:
            removed = winservice.uninstall(remove_event_source=args.remove_event_source)
        except (winservice.ServiceError, OSError) as exc:
            _fail(exc)
    else:
        from transom.agent.systemd import SystemdError

        try:
            removed = _systemd(args).uninstall()
        except (SystemdError, OSError) as exc:
            _fail(exc)
    print("removed" if removed else "not installed")
    return 0


def _control(args: argparse.Namespace) -> int:
    if os.name == "nt":
        from transom.agent import winservice

        try:
            status = winservice.start() if args.action == "start" else winservice.stop()
        except (winservice.ServiceError, OSError) as exc:
            _fail(exc)
        print("\n".join(status.lines()))
        return 0
    from transom.agent.systemd import SystemdError

    systemd = _systemd(args)
    try:
        systemd.start() if args.action == "start" else systemd.stop()
    except (SystemdError, OSError) as exc:
        _fail(exc)
    print(systemd.status())
    return 0


def _status(args: argparse.Namespace) -> int:
    """Exit 0 when running, 3 when installed but not running (as LSB's status does), 4 when
    not installed."""
    if os.name == "nt":
        from transom.agent import winservice

        try:
            status = winservice.query()
        except OSError as exc:
            _fail(exc)
        print("\n".join(status.lines()))
        state = status.state
    else:
        state = _systemd(args).status()
        print(f"{_systemd(args).unit_path}: {state}")
    if state in ("running", "active"):
        return 0
    return 4 if state == "not installed" else 3
