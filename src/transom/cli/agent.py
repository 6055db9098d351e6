"""`transom agent enroll`, `run` and `whoami`: the host side, configured by the agent's
configuration file (`transom.agent.config`) with flags on top."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import ssl
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transom.agent.config import (
    AgentConfiguration,
    EnrollmentCredentials,
    default_config_path,
    default_state_dir,
    load_config,
)
from transom.agent.enroll import (
    DEFAULT_EXPIRATION_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
    EnrollmentError,
    certificate_window,
    enroll,
)
from transom.agent.events import AgentEvents, platform_event_log
from transom.api.errors import SpecError
from transom.cli import service
from transom.cli.errors import CliError, cert_reason
from transom.cli.progress import waiting

TOKEN_ENV = "TRANSOM_ENROLL_TOKEN"  # noqa: S105 - the variable's name, not a token


def server_url(text: str) -> str:
    """An https:// URL with a host: the only kind of API server address the agent uses."""
    parsed = urllib.parse.urlsplit(text)
    if parsed.scheme != "https" or not parsed.hostname:
        raise argparse.ArgumentTypeError(
            f"{text!r}: the API server's https:// URL, e.g. https://k8s.example.com:6443"
        )
    return text


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:

    agent = subparsers.add_parser("agent", help="the host agent: enroll, run, whoami")
    sub = agent.add_subparsers(dest="agent_command", required=True)

    enroll = sub.add_parser("enroll", help="get this host's client certificate from the cluster")
    _config_option(enroll)
    enroll.add_argument(
        "--token",
        help=f"enrollment (bootstrap) token; default ${TOKEN_ENV}, which keeps it out of the "
        "process list",
    )
    _connection_options(enroll)
    enroll.add_argument(
        "--expiration-seconds",
        type=int,
        metavar="N",
        help="lifetime asked for the client certificate, in seconds (config: "
        f"credentials.certificateLifetimeSeconds; default {DEFAULT_EXPIRATION_SECONDS})",
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
    _config_option(run)
    _connection_options(run)
    run.add_argument(
        "--root",
        action="append",
        default=[],
        help="only manage paths under this folder (repeatable); narrows the host policy "
        "(config: roots)",
    )
    run.add_argument(
        "--policy",
        type=Path,
        metavar="FILE",
        help="host policy file (YAML or JSON): what this agent may change on the host; "
        "without one (config: policy or policyFile), scripts are off and only the --root "
        "folders may be managed",
    )
    run.add_argument(
        "--lease-duration",
        type=int,
        metavar="SECONDS",
        help="the host counts as offline when its lease is not renewed for this long "
        "(config: leaseDurationSeconds; default 180)",
    )
    run.add_argument(
        "--renew-interval",
        type=float,
        metavar="SECONDS",
        help="how often the lease (heartbeat) is renewed (config: renewIntervalSeconds; "
        "default 60)",
    )
    run.add_argument(
        "--drift-interval",
        type=float,
        metavar="SECONDS",
        help="how often every resource is checked for drift, besides change notifications "
        "(config: driftIntervalSeconds; default 300)",
    )
    run.add_argument(
        "--rotation-fraction",
        type=float,
        metavar="FRACTION",
        help="renew the client certificate when this fraction of its lifetime has passed "
        "(config: credentials.rotationFraction; default 0.7)",
    )
    run.add_argument(
        "--expiration-seconds",
        type=int,
        metavar="N",
        help="lifetime asked for each renewed client certificate, in seconds (config: "
        f"credentials.certificateLifetimeSeconds; default {DEFAULT_EXPIRATION_SECONDS})",
    )
    run.add_argument(
        "--log-level",
        type=str.upper,
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="how much the agent logs (config: logLevel; default INFO)",
    )
    run.add_argument(
        "--metrics-addr",
        metavar="HOST:PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics; a bare PORT listens on "
        "loopback only, 0.0.0.0:PORT on every interface (config: metrics.address; default: "
        "no metrics endpoint)",
    )
    run.add_argument("--service", action="store_true", help=argparse.SUPPRESS)  # the SCM's
    run.set_defaults(func=_run)

    whoami = sub.add_parser(
        "whoami",
        help="ask the cluster who it thinks this host is (SelfSubjectReview) and whether that "
        "is transom:host:<name>",
    )
    _config_option(whoami)
    _connection_options(whoami)
    whoami.add_argument(
        "--output",
        choices=("text", "json"),
        default="text",
        help="text for people, json for scripts",
    )
    whoami.set_defaults(func=_whoami)

    service.register(sub, default_state_dir())


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help=f"agent configuration file (default: {default_config_path()}, when it exists); "
        "the flags below override its fields",
    )


def _connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--server",
        type=server_url,
        metavar="URL",
        help="API server URL, e.g. https://k8s.example.com:6443 (config: server)",
    )
    parser.add_argument(
        "--name", help="this host's name, e.g. web01 (config: hostName; default: the enrolled one)"
    )
    parser.add_argument(
        "--ca-file",
        type=Path,
        metavar="FILE",
        help="PEM CA bundle that signed the API server's certificate (the cluster's "
        "certificate-authority-data; config: certificateAuthority; default: the system's "
        "trusted CAs)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        help="the enrolled identity, journal, audit log and caches (config: stateDir; "
        f"default {default_state_dir()})",
    )


def _config(args: argparse.Namespace) -> AgentConfiguration:
    """The configuration file with the flags given on top (a flag not given is None)."""
    flags: dict[str, Any] = {
        "server": getattr(args, "server", None),
        "certificateAuthority": getattr(args, "ca_file", None),
        "hostName": getattr(args, "name", None),
        "stateDir": getattr(args, "state_dir", None),
        "roots": getattr(args, "root", None),
        "policyFile": getattr(args, "policy", None),
        "leaseDurationSeconds": getattr(args, "lease_duration", None),
        "renewIntervalSeconds": getattr(args, "renew_interval", None),
        "driftIntervalSeconds": getattr(args, "drift_interval", None),
        "logLevel": getattr(args, "log_level", None),
        "metrics": {"address": getattr(args, "metrics_addr", None)},
        "credentials": {
            "rotationFraction": getattr(args, "rotation_fraction", None),
            "certificateLifetimeSeconds": getattr(args, "expiration_seconds", None),
        },
    }
    return load_config(args.config, flags)


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
    config = _config(args)
    credentials = config.credentials
    if not isinstance(credentials, EnrollmentCredentials):
        raise CliError(
            f"the configuration's credentials source is {credentials.source!r}, not enrollment",
            "this host proves who it is without enrolling: run `transom agent whoami`",
        )
    if not config.server or not config.host_name:
        raise CliError(
            "no API server or host name",
            "pass --server and --name, or set server and hostName in the configuration",
            code=2,
        )
    work = enroll(
        config.server,
        token,
        config.host_name,
        state_dir=config.state_dir,
        ca_pem=config.ca_pem(),
        expiration_seconds=credentials.certificate_lifetime_seconds,
        timeout=args.timeout,
    )
    try:
        identity = asyncio.run(
            waiting(
                work,
                f"waiting for the cluster to approve and sign {config.host_name}'s certificate",
            )
        )
    except ssl.SSLCertVerificationError as exc:
        ca = config.certificate_authority
        trusted = f"the CA in {ca}" if ca else "a CA this host trusts"
        raise CliError(
            f"{config.server}'s certificate is not signed by {trusted} ({cert_reason(exc)}); "
            "pass the cluster's CA bundle with --ca-file FILE",
            f"an admin writes it to ca.crt with: {CA_COMMAND}",
        ) from None
    except (EnrollmentError, ValueError) as exc:
        raise CliError(str(exc)) from None
    _, not_after = certificate_window(identity.cert_pem)
    AgentEvents(platform_event_log()).enrolled(
        identity.config.host, config.server, not_after.isoformat()
    )
    print(f"enrolled {identity.config.host}; state in {config.state_dir}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from transom.agent.runner import AgentOptions
    from transom.agent.service import RunSettings, run_agent
    from transom.engine.policy import agent_policy

    config = _config(args)
    try:
        policy = agent_policy(config.host_policy(), config.roots)
    except SpecError as exc:
        raise CliError(f"host policy {config.policy_file or '(inline)'}: {exc}") from None
    logging.basicConfig(
        level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Certificate rotation applies to enrolled hosts only; other sources refresh themselves.
    enrollment = config.credentials
    if not isinstance(enrollment, EnrollmentCredentials):
        enrollment = EnrollmentCredentials()

    settings = RunSettings(
        state_dir=config.state_dir,
        policy=policy,
        options=AgentOptions(
            lease_duration_seconds=config.lease_duration_seconds,
            renew_interval_seconds=config.renew_interval_seconds,
            drift_interval_seconds=config.drift_interval_seconds,
        ),
        rotation_fraction=enrollment.rotation_fraction,
        expiration_seconds=enrollment.certificate_lifetime_seconds,
        config=config,
        metrics_address=config.metrics.listen if config.metrics is not None else None,
    )
    if args.service:
        from transom.agent import winservice

        try:
            winservice.run_hosted(settings)
        except winservice.ServiceError as exc:
            raise CliError(str(exc)) from None
        return 0

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        # signal.signal rather than loop.add_signal_handler: the latter is missing on Windows.
        previous = {
            sig: signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
            for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            await run_agent(settings, stop=stop)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    _as_this_host(lambda: asyncio.run(main()), config, event_log=True)
    return 0


def _as_this_host(
    work: Callable[[], None], config: AgentConfiguration, *, event_log: bool = False
) -> None:
    """Runs ``work``; the ways of failing to reach the cluster as this host become CliErrors
    that name the credential source (the dispatcher explains the rest)."""
    from transom.agent.credentials.base import CredentialError
    from transom.agent.credentials.whoami import IdentityMismatchError
    from transom.kube.client import ApiError

    source = config.credentials.source
    try:
        work()
    except (CredentialError, IdentityMismatchError, EnrollmentError) as exc:
        if event_log:  # the agent's own failures, not an admin's whoami
            AgentEvents(platform_event_log()).error(str(exc))
        raise CliError(str(exc)) from None
    except ApiError as exc:
        if exc.status != 401:
            raise
        raise CliError(
            f"the apiserver does not accept the credential from source {source!r} "
            "(401 Unauthorized)",
            "check the cluster's mapping for this host's identity (docs/identity.md)",
        ) from None


def _whoami(args: argparse.Namespace) -> int:
    import json

    from transom.agent.credentials.connect import connect, describe
    from transom.agent.credentials.whoami import mismatch, who_am_i
    from transom.kube.client import Kube

    config = _config(args)
    verdict: dict[str, Any] = {}

    async def main() -> None:
        connection = await connect(config)
        async with Kube(connection.kube_config, field_manager="transom-agent") as kube:
            user = await who_am_i(kube)
        problem = mismatch(user, connection.host)
        verdict.update(
            describe(connection),
            username=user.username,
            groups=list(user.groups),
            uid=user.uid,
            ok=problem is None,
            problem=problem,
        )

    _as_this_host(lambda: asyncio.run(main()), config)
    if args.output == "json":
        print(json.dumps(verdict, indent=2))
    else:
        for key in ("server", "source", "credential", "username", "groups", "uid"):
            value = verdict[key]
            shown = ", ".join(value) if isinstance(value, list) else value
            print(f"{key + ':':<12}{shown or '-'}")
        host = verdict["host"]
        if verdict["ok"]:
            print(f"OK: this is transom:host:{host}, the user host {host} must run as")
        else:
            print(f"NOT OK: {verdict['problem']}")
    return 0 if verdict["ok"] else 1
