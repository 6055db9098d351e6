"""`transom trace HOST [RESOURCE]`: host resource -> Assignment -> Configuration ->
Kustomization -> GitRepository -> commit."""

from __future__ import annotations

import argparse
import asyncio
import sys

from transom.cli.cluster import add_kubeconfig, kube_config


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("trace", help="trace a host's resource back to its Git commit")
    p.add_argument("host", help="the host's name, e.g. web01")
    p.add_argument(
        "resource", nargs="?", help="one resource by name (default: all of the host's resources)"
    )
    add_kubeconfig(p)
    p.set_defaults(func=_trace)


def _trace(args: argparse.Namespace) -> int:
    from transom.controller.trace import trace
    from transom.kube.client import ApiError, Kube

    async def main() -> str:
        cfg = kube_config(args.kubeconfig)
        async with Kube(cfg) as kube:
            return "\n\n".join(t.render() for t in await trace(kube, args.host, args.resource))

    try:
        print(asyncio.run(main()) or f"host {args.host} has no assignments")
    except (LookupError, ApiError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
