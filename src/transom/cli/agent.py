"""`transom agent enroll` and `transom agent run`: the host side."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from transom.agent.enroll import DEFAULT_EXPIRATION_SECONDS, EnrollmentError, enroll
from transom.agent.runner import AgentOptions
from transom.agent.service import RunSettings, default_state_dir, host_policy, run_agent
from transom.api.errors import SpecError
from transom.engine.policy import load_policy

TOKEN_ENV = "TRANSOM_ENROLL_TOKEN"  # noqa: S105 - the variable's name, not a token


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:

    agent = subparsers.add_parser("agent", help="the host agent: enroll, run")
    sub = agent.add_subparsers(dest="agent_command", required=True)

    enroll = sub.add_parser("enroll", help="get this host's client certificate from the cluster")
    enroll.add_argument("--server", required=True, help="API server URL")
    enroll.add_argument(
        "--token",
        help=f"enrollment (bootstrap) token; default ${TOKEN_ENV}, which keeps it out of the "
        "process list",
    )
    enroll.add_argument("--name", required=True, help="this host's name, e.g. web01")
    enroll.add_argument("--ca-file", type=Path, help="CA bundle of the API server")
    enroll.add_argument("--state-dir", type=Path, default=default_state_dir())
    enroll.add_argument(
        "--expiration-seconds", type=int, default=DEFAULT_EXPIRATION_SECONDS, metavar="N"
    )
    enroll.add_argument("--timeout", type=float, default=300.0, help="seconds to wait")
    enroll.set_defaults(func=_enroll)

    run = sub.add_parser("run", help="converge this host to its Assignments")
    run.add_argument("--state-dir", type=Path, default=default_state_dir())
    run.add_argument(
        "--root",
        action="append",
        default=[],
        help="only manage paths under this folder (repeatable); narrows the host policy",
    )
    run.add_argument("--policy", type=Path, help="host policy file (YAML or JSON)")
    run.add_argument("--lease-duration", type=int, default=40, metavar="SECONDS")
    run.add_argument("--renew-interval", type=float, default=10.0, metavar="SECONDS")
    run.add_argument("--drift-interval", type=float, default=300.0, metavar="SECONDS")
    run.add_argument("--rotation-fraction", type=float, default=0.7)
    run.add_argument(
        "--expiration-seconds", type=int, default=DEFAULT_EXPIRATION_SECONDS, metavar="N"
    )
    run.add_argument("--log-level", default="INFO")
    run.set_defaults(func=_run)


def _enroll(args: argparse.Namespace) -> int:

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    token = args.token or os.environ.get(TOKEN_ENV)
    if not token:
        print(f"error: pass --token or set {TOKEN_ENV}", file=sys.stderr)
        return 2
    ca = args.ca_file.read_bytes() if args.ca_file else None
    try:
        identity = asyncio.run(
            enroll(
                args.server,
                token,
                args.name,
                state_dir=args.state_dir,
                ca_pem=ca,
                expiration_seconds=args.expiration_seconds,
                timeout=args.timeout,
            )
        )
    except (EnrollmentError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"enrolled {identity.config.host}; state in {args.state_dir}")
    return 0


def _run(args: argparse.Namespace) -> int:

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        policy = host_policy(load_policy(args.policy) if args.policy else None, args.root)
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    settings = RunSettings(
        state_dir=args.state_dir,
        policy=policy,
        options=AgentOptions(
            lease_duration_seconds=args.lease_duration,
            renew_interval_seconds=args.renew_interval,
            drift_interval_seconds=args.drift_interval,
        ),
        rotation_fraction=args.rotation_fraction,
        expiration_seconds=args.expiration_seconds,
    )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        # signal.signal rather than loop.add_signal_handler: the latter is missing on Windows.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
        await run_agent(settings, stop=stop)

    try:
        asyncio.run(main())
    except EnrollmentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
