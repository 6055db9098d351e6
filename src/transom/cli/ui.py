"""`transom ui`: the fleet view, a read-only web page on loopback, as the kubeconfig's user."""

from __future__ import annotations

import argparse
import asyncio
import sys

from transom.cli.cluster import add_kubeconfig, kube_config
from transom.cli.errors import CliError

DEFAULT_ADDR = "127.0.0.1:8600"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "ui", help="serve the live fleet view (hosts x Configurations) in a browser, read-only"
    )
    p.add_argument(
        "--addr",
        default=DEFAULT_ADDR,
        metavar="HOST:PORT",
        help=f"where to listen; a loopback address only, port 0 picks a free one "
        f"(default: {DEFAULT_ADDR})",
    )
    add_kubeconfig(p)
    p.set_defaults(func=_ui)


def parse_addr(addr: str, *, option: str = "--addr", loopback_only: bool = True) -> tuple[str, int]:
    """HOST:PORT as kube.address reads it (a bare PORT is loopback). Locally on loopback
    only: the page shows what the kubeconfig's user may read, to whoever reaches it, so it is
    never offered to the network. (The controller's view reviews every viewer's own token, so
    it may listen elsewhere.)"""
    from transom.kube.address import AddressError, parse_address
    from transom.ui.server import loopback

    try:
        host, port = parse_address(addr)
    except AddressError as e:
        raise CliError(f"{option} {e}", f"e.g. {option} 127.0.0.1:8600", code=2) from None
    if loopback_only and not loopback(host):
        raise CliError(
            f"{option} {addr!r} is not a loopback address",
            "the page acts as your kubeconfig's user, so it listens on 127.0.0.1 or ::1 only; "
            "reach it from elsewhere through an SSH tunnel",
            code=2,
        )
    return host, port


def _ui(args: argparse.Namespace) -> int:
    from transom.controller.trace import flux_trace
    from transom.kube.client import Kube
    from transom.ui.server import serving

    host, port = parse_addr(args.addr)

    async def main() -> None:
        cfg = kube_config(args.kubeconfig)
        async with (
            Kube(cfg, field_manager="transom-ui") as kube,
            serving(kube, host, port, flux=flux_trace) as (
                _,
                bound,
            ),
        ):
            shown = f"[{host}]" if ":" in host else host
            print(f"fleet view at http://{shown}:{bound}/ (Ctrl-C to stop)", flush=True)
            await asyncio.Event().wait()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        if exc.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
            raise CliError(
                f"{args.addr} is already in use", "pick another with --addr 127.0.0.1:PORT"
            ) from None
        raise
    print("stopped", file=sys.stderr)
    return 0
