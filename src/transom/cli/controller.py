"""`transom controller run` and `transom enroll-token create` (admin side)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import logging
import re
import signal
import sys
from collections.abc import AsyncIterator

from transom.cli.cluster import add_kubeconfig, kube_config

_DURATION = re.compile(r"^(\d+)([smhd])$")


def duration(text: str) -> dt.timedelta:
    m = _DURATION.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r}: use a number and s, m, h or d, e.g. 30m")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
    return dt.timedelta(**{unit: int(m.group(1))})


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
        async with contextlib.AsyncExitStack() as stack:
            kube = await stack.enter_async_context(
                Kube(config, field_manager="transom-controller", observer=observer)
            )
            if metrics is not None:
                from transom.kube.metrics import MetricsServer

                await stack.enter_async_context(MetricsServer(metrics.registry, *args.metrics_addr))
            if not args.no_install:
                await setup.ensure(kube)
            notifier = Notifier(args.events_addr) if args.events_addr else None
            if args.ui_addr:
                await stack.enter_async_context(fleet_view(args.ui_addr, args.kubeconfig))
            await Controller(kube, notifier=notifier, metrics=metrics).run()

    with contextlib.suppress(asyncio.CancelledError):
        asyncio.run(main())
    logging.getLogger("transom.controller").info("stopped")
    return 0


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
