"""`transom controller run` and `transom enroll-token create` (admin side)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from transom.cli.cluster import add_kubeconfig, kube_config

if TYPE_CHECKING:
    from transom.controller.shards import Shard

_DURATION = re.compile(r"^(\d+)([smhd])$")
#: Client-side limit: 10,000 Assignments in under a minute and a half, bursts of a wave at once.
DEFAULT_QPS = 150
DEFAULT_BURST = 300
#: Connections to the apiserver: a wave's writes in flight at once, and the watches.
CONNECTIONS = 48


def duration(text: str) -> dt.timedelta:
    m = _DURATION.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r}: use a number and s, m, h or d, e.g. 30m")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
    return dt.timedelta(**{unit: int(m.group(1))})


def seconds(text: str) -> float:
    return duration(text).total_seconds()


def labels(text: str) -> dict[str, str]:
    out = {}
    for item in filter(None, text.split(",")):
        if "=" not in item:
            raise argparse.ArgumentTypeError(f"{item!r}: labels are key=value, comma-separated")
        k, v = item.split("=", 1)
        out[k] = v
    return out


def metrics_address(text: str) -> tuple[str, int]:
    from transom.kube.address import AddressError, parse_address

    try:
        return parse_address(text)
    except AddressError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ctl = subparsers.add_parser("controller", help="run the Transom controller")
    ctl_sub = ctl.add_subparsers(dest="controller_command", required=True)
    run = ctl_sub.add_parser("run", help="reconcile Configurations, Hosts and enrollments")
    add_kubeconfig(run)
    run.add_argument(
        "--events-addr",
        default="",
        help="forward rollout outcomes to Flux's notification-controller at this address, "
        "e.g. http://notification-controller.flux-system.svc.cluster.local./",
    )
    run.add_argument(
        "--ui-addr",
        default="",
        metavar="HOST:PORT",
        help="also serve the read-only fleet view here; each viewer signs in with their own "
        "Kubernetes token and sees what RBAC lets them get (docs/ui.md), e.g. 127.0.0.1:8600 "
        "for kubectl port-forward (default: off)",
    )
    run.add_argument(
        "--metrics-addr",
        type=metrics_address,
        default=None,
        metavar="HOST:PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics (a bare PORT: loopback "
        "only; 0.0.0.0:PORT for every interface, as in a pod); default: no metrics endpoint",
    )
    run.add_argument(
        "--no-install",
        action="store_true",
        help="don't install CRDs, bootstrap RBAC and the admission policy",
    )
    run.add_argument(
        "--kube-api-qps",
        type=float,
        default=DEFAULT_QPS,
        metavar="N",
        help=f"requests a second to the apiserver at most, bursts aside (default {DEFAULT_QPS}); "
        "the leader-election Lease is never held back",
    )
    run.add_argument(
        "--kube-api-burst",
        type=int,
        default=DEFAULT_BURST,
        metavar="N",
        help=f"requests allowed at once above the rate (default {DEFAULT_BURST})",
    )
    election = run.add_argument_group("leader election (run two replicas, one leads)")
    election.add_argument(
        "--leader-elect",
        action="store_true",
        help="lead only while holding a coordination.k8s.io Lease; a standby keeps its caches "
        "warm and takes over within one lease duration",
    )
    election.add_argument(
        "--leader-elect-namespace",
        metavar="NS",
        help="namespace of the Lease (default: $POD_NAMESPACE, else the controller's, "
        "transom-system)",
    )
    election.add_argument(
        "--leader-elect-lease-name",
        metavar="NAME",
        help="name of the Lease (default: transom-controller)",
    )
    election.add_argument(
        "--leader-elect-lease-duration",
        type=seconds,
        default="15s",
        metavar="DURATION",
        help="how long a standby waits on an unrenewed Lease before taking it (default 15s)",
    )
    election.add_argument(
        "--leader-elect-renew-deadline",
        type=seconds,
        default="10s",
        metavar="DURATION",
        help="how long the leader keeps acting without a successful renewal (default 10s)",
    )
    election.add_argument(
        "--leader-elect-retry-period",
        type=seconds,
        default="2s",
        metavar="DURATION",
        help="how often to renew or try to acquire (default 2s)",
    )
    sharding = run.add_argument_group(
        "sharding (N replica sets, each owning the hosts labelled transom.dev/shard=K)"
    )
    sharding.add_argument(
        "--shards",
        type=int,
        metavar="N",
        help="how many controller shards share the fleet (default: 1, no sharding); needs "
        "--leader-elect: a shard is alive while its leader Lease is held",
    )
    sharding.add_argument(
        "--shard-key",
        type=int,
        metavar="K",
        help="the shard this controller runs, 0..N-1; its leader Lease is LEASE-shard-K",
    )
    run.set_defaults(func=_run)

    tok = subparsers.add_parser("enroll-token", help="enrollment tokens for new hosts")
    tok_sub = tok.add_subparsers(dest="token_command", required=True)
    create = tok_sub.add_parser("create", help="create a bootstrap token for named hosts")
    create.add_argument(
        "--hosts", required=True, help="comma-separated host names the token may enroll, or *"
    )
    create.add_argument(
        "--ttl",
        type=duration,
        default="1h",
        metavar="DURATION",
        help="how long the token can be used: a number and s, m, h or d",
    )
    create.add_argument(
        "--max-uses",
        type=int,
        metavar="N",
        help="how many enrollments the token allows "
        "(default: the number of named hosts; unlimited with *)",
    )
    create.add_argument(
        "--labels",
        type=labels,
        default={},
        help="labels for the Host objects, e.g. role=web,env=prod",
    )
    add_kubeconfig(create)
    create.set_defaults(func=_create_token)


def _run(args: argparse.Namespace) -> int:
    from transom.controller import setup
    from transom.controller.flux_events import Notifier
    from transom.controller.manager import Controller
    from transom.kube.client import Kube
    from transom.kube.leader import LeaderElector, LeadershipLostError
    from transom.kube.ratelimit import TokenBucket

    if args.kube_api_qps <= 0 or args.kube_api_burst < 1:
        print(
            f"error: --kube-api-qps must be above 0 and --kube-api-burst at least 1 "
            f"(got {args.kube_api_qps:g}, {args.kube_api_burst})",
            file=sys.stderr,
        )
        return 2
    if args.leader_elect and not (
        args.leader_elect_retry_period > 0
        and args.leader_elect_renew_deadline < args.leader_elect_lease_duration
    ):
        print(
            "error: --leader-elect-renew-deadline must be shorter than "
            "--leader-elect-lease-duration, and --leader-elect-retry-period above 0 "
            f"(got {args.leader_elect_renew_deadline:g} s, {args.leader_elect_lease_duration:g} s, "
            f"{args.leader_elect_retry_period:g} s)",
            file=sys.stderr,
        )
        return 2
    try:
        shard = _shard(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    metrics = None
    if args.metrics_addr is not None:
        from transom.controller.metrics import ControllerMetrics

        metrics = ControllerMetrics()

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.ui_addr:
        from transom.cli.ui import parse_addr

        parse_addr(args.ui_addr, option="--ui-addr", loopback_only=False)  # fail before connecting

    async def main() -> None:
        # SIGTERM (a pod being stopped) ends the run cleanly: watches closed, exit 0.
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        config = kube_config(args.kubeconfig)
        observer = metrics.api if metrics is not None else None
        limiter = TokenBucket(args.kube_api_qps, args.kube_api_burst)
        async with contextlib.AsyncExitStack() as stack:
            kube = await stack.enter_async_context(
                Kube(
                    config,
                    field_manager="transom-controller",
                    observer=observer,
                    limiter=limiter,
                    connections=CONNECTIONS,
                )
            )
            if metrics is not None:
                from transom.kube.metrics import MetricsServer

                await stack.enter_async_context(MetricsServer(metrics.registry, *args.metrics_addr))
            if not args.no_install:
                await setup.ensure(kube)
            notifier = Notifier(args.events_addr) if args.events_addr else None
            if args.ui_addr:
                await stack.enter_async_context(fleet_view(args.ui_addr, args.kubeconfig))
            elector = None
            if args.leader_elect:
                namespace, lease = _lease(args)
                elector = LeaderElector(
                    kube,
                    namespace,
                    lease if shard is None else shard.lease_name(),
                    lease_duration=args.leader_elect_lease_duration,
                    renew_deadline=args.leader_elect_renew_deadline,
                    retry_period=args.leader_elect_retry_period,
                )
            await Controller(kube, notifier=notifier, metrics=metrics, shard=shard).run(elector)

    try:
        with contextlib.suppress(asyncio.CancelledError):
            asyncio.run(main())
    except LeadershipLostError as e:
        # As kube-controller-manager does: exit, and be restarted as a standby.
        logging.getLogger("transom.controller").error("stopping: %s", e)
        return 1
    logging.getLogger("transom.controller").info("stopped")
    return 0


def _lease(args: argparse.Namespace) -> tuple[str, str]:
    """The leader Lease's namespace and name (a shard's adds -shard-K to the name)."""
    from transom.api import names

    namespace = (
        args.leader_elect_namespace or os.environ.get("POD_NAMESPACE") or names.CONTROLLER_NAMESPACE
    )
    return namespace, args.leader_elect_lease_name or names.CONTROLLER_LEADER_LEASE


def _shard(args: argparse.Namespace) -> Shard | None:
    """The shard the flags name (None: unsharded), its leader Lease beside the others'."""
    from transom.controller import shards

    shard = shards.check(args.shard_key, args.shards)
    if shard is not None and not args.leader_elect:
        raise ValueError(
            f"--shards {shard.count} needs --leader-elect: the other shards know shard "
            f"{shard.key} is alive by its leader Lease"
        )
    if shard is None:
        return None
    namespace, base = _lease(args)
    return dataclasses.replace(shard, lease_namespace=namespace, lease_base=base)


@contextlib.asynccontextmanager
async def fleet_view(addr: str, kubeconfig: str | None) -> AsyncIterator[None]:
    """The fleet view beside the controller, with its own client (its watches hold their own
    connections), reviewing each viewer's token as the controller's identity."""
    from transom.cli.ui import parse_addr
    from transom.controller.trace import flux_trace
    from transom.kube.client import Kube
    from transom.ui.server import serving

    host, port = parse_addr(addr, option="--ui-addr", loopback_only=False)
    async with (
        Kube(kube_config(kubeconfig), field_manager="transom-ui") as kube,
        serving(kube, host, port, in_cluster=True, flux=flux_trace) as (_, bound),
    ):
        logging.getLogger("transom.ui").info("fleet view at http://%s:%d/", host, bound)
        yield


def _create_token(args: argparse.Namespace) -> int:
    from transom.controller.enrollment import create_token
    from transom.kube.client import ApiError, Kube

    hosts = [h.strip() for h in args.hosts.split(",") if h.strip()]

    async def main() -> str:
        async with Kube(kube_config(args.kubeconfig)) as kube:
            token = await create_token(
                kube, hosts, ttl=args.ttl, max_uses=args.max_uses or 0, labels=args.labels
            )
            return token.value

    try:
        print(asyncio.run(main()))
    except (ValueError, ApiError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
