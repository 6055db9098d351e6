"""`transom trace HOST [RESOURCE]`: host resource -> Assignment -> Configuration ->
Kustomization -> GitRepository -> commit."""

from __future__ import annotations

import argparse
import asyncio
import sys


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("trace", help="trace a host's resource back to its Git commit")
    p.add_argument("host")
    p.add_argument("resource", nargs="?")
    p.add_argument("--kubeconfig", help="default: $KUBECONFIG")
    p.set_defaults(func=_trace)


def _trace(args: argparse.Namespace) -> int:
    from transom.controller.trace import trace
    from transom.kube.client import ApiError, Kube
    from transom.kube.config import KubeConfig

    async def main() -> str:
        cfg = KubeConfig.load(args.kubeconfig)
        async with Kube(cfg) as kube:
            return "\n\n".join(t.render() for t in await trace(kube, args.host, args.resource))

    try:
        print(asyncio.run(main()) or f"host {args.host} has no assignments")
    except (LookupError, ApiError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
