"""`transom agent enroll` and `transom agent run`: the host side."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import ssl
import urllib.parse
from pathlib import Path

from transom.agent.enroll import (
    DEFAULT_EXPIRATION_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
    EnrollmentError,
    certificate_window,
    enroll,
)
from transom.agent.events import AgentEvents, platform_event_log
from transom.agent.runner import AgentOptions
from transom.agent.service import RunSettings, default_state_dir, run_agent
from transom.api.errors import SpecError
from transom.cli import service
from transom.cli.errors import CliError, cert_reason
from transom.cli.progress import waiting
from transom.engine.policy import agent_policy, load_policy

TOKEN_ENV = "TRANSOM_ENROLL_TOKEN"  # noqa: S105 - the variable's name, not a token


def server_url(text: str) -> str:
    """An https:// URL with a host: the only kind of API server address enrollment uses."""
    parsed = urllib.parse.urlsplit(text)
    if parsed.scheme != "https" or not parsed.hostname:
        raise argparse.ArgumentTypeError(
            f"{text!r}: the API server's https:// URL, e.g. https://k8s.example.com:6443"
        )
    return text


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:

    agent = subparsers.add_parser("agent", help="the host agent: enroll, run")
    sub = agent.add_subparsers(dest="agent_command", required=True)

    enroll = sub.add_parser("enroll", help="get this host's client certificate from the cluster")
    enroll.add_argument(
        "--server",
        required=True,
        type=server_url,
        metavar="URL",
        help="API server URL, e.g. https://k8s.example.com:6443",
    )
    enroll.add_argument(
        "--token",
        help=f"enrollment (bootstrap) token; default ${TOKEN_ENV}, which keeps it out of the "
        "process list",
    )
    enroll.add_argument("--name", required=True, help="this host's name, e.g. web01")
    enroll.add_argument(
        "--ca-file",
        type=Path,
        metavar="FILE",
        help="PEM CA bundle that signed the API server's certificate (the cluster's "
        "certificate-authority-data; default: the system's trusted CAs)",
    )
    enroll.add_argument(
        "--state-dir",
        type=Path,
        default=default_state_dir(),
        metavar="DIR",
        help="where the key, certificate and agent config are kept",
    )
    enroll.add_argument(
        "--expiration-seconds",
        type=int,
        default=DEFAULT_EXPIRATION_SECONDS,
        metavar="N",
        help="lifetime asked for the client certificate, in seconds",
    )
    enroll.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help="how long to wait for the certificate to be approved and signed",
    )
    enroll.set_defaults(func=_enroll)

    run = sub.add_parser("run", help="converge this host to its Assignments")
    run.add_argument(
        "--state-dir",
        type=Path,
        default=default_state_dir(),
        metavar="DIR",
        help="the enrolled identity, journal, audit log and caches",
    )
    run.add_argument(
        "--root",
        action="append",
        default=[],
        help="only manage paths under this folder (repeatable); narrows the host policy",
    )
    run.add_argument(
        "--policy",
        type=Path,
        metavar="FILE",
        help="host policy file (YAML or JSON): what this agent may change on the host; "
        "without one, scripts are off and only the --root folders may be managed",
    )
    run.add_argument(
        "--lease-duration",
        type=int,
        default=40,
        metavar="SECONDS",
        help="the host counts as offline when its lease is not renewed for this long",
    )
    run.add_argument(
        "--renew-interval",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="how often the lease (heartbeat) is renewed",
    )
    run.add_argument(
        "--drift-interval",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="how often every resource is checked for drift, besides change notifications",
    )
    run.add_argument(
        "--rotation-fraction",
        type=float,
        default=0.7,
        metavar="FRACTION",
        help="renew the client certificate when this fraction of its lifetime has passed",
    )
    run.add_argument(
        "--expiration-seconds",
        type=int,
        default=DEFAULT_EXPIRATION_SECONDS,
        metavar="N",
        help="lifetime asked for each renewed client certificate, in seconds",
    )
    run.add_argument(
        "--log-level",
        default="INFO",
        type=str.upper,
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="how much the agent logs",
    )
    run.add_argument("--service", action="store_true", help=argparse.SUPPRESS)  # the SCM's
    run.set_defaults(func=_run)

    service.register(sub, default_state_dir())


#: How an admin gets the cluster's CA bundle for --ca-file, from their own kubeconfig.
CA_COMMAND = (
    "kubectl config view --raw --minify "
    "-o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d > ca.crt"
)


def _enroll(args: argparse.Namespace) -> int:

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    token = args.token or os.environ.get(TOKEN_ENV)
    if not token:
        raise CliError(
            "no enrollment token",
            f"pass --token, or set {TOKEN_ENV} (which keeps it out of the process list); "
            "an admin creates one with `transom enroll-token create --hosts NAME`",
            code=2,
        )
    ca = args.ca_file.read_bytes() if args.ca_file else None
    work = enroll(
        args.server,
        token,
        args.name,
        state_dir=args.state_dir,
        ca_pem=ca,
        expiration_seconds=args.expiration_seconds,
        timeout=args.timeout,
    )
    try:
        identity = asyncio.run(
            waiting(work, f"waiting for the cluster to approve and sign {args.name}'s certificate")
        )
    except ssl.SSLCertVerificationError as exc:
        trusted = f"the CA in {args.ca_file}" if args.ca_file else "a CA this host trusts"
        raise CliError(
            f"{args.server}'s certificate is not signed by {trusted} ({cert_reason(exc)}); "
            "pass the cluster's CA bundle with --ca-file FILE",
            f"an admin writes it to ca.crt with: {CA_COMMAND}",
        ) from None
    except (EnrollmentError, ValueError) as exc:
        raise CliError(str(exc)) from None
    _, not_after = certificate_window(identity.cert_pem)
    AgentEvents(platform_event_log()).enrolled(
        identity.config.host, args.server, not_after.isoformat()
    )
    print(f"enrolled {identity.config.host}; state in {args.state_dir}")
    return 0


def _run(args: argparse.Namespace) -> int:

    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        policy = agent_policy(load_policy(args.policy) if args.policy else None, args.root)
    except SpecError as exc:
        raise CliError(f"host policy {args.policy}: {exc}") from None
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

    if args.service:
        from transom.agent import winservice

        try:
            winservice.serve(settings)
        except winservice.ServiceError as exc:
            raise CliError(str(exc)) from None
        return 0

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
        AgentEvents(platform_event_log()).error(str(exc))
        raise CliError(str(exc)) from None
    return 0
