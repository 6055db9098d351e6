"""`transom approve CONFIGURATION [--partition P]`: let a rollout held by an approval gate go
on, in your own name (the cluster checks that name; RBAC decides whether you may)."""

from __future__ import annotations

import argparse
import asyncio

from transom.cli.cluster import add_kubeconfig, kube_config
from transom.cli.errors import CliError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "approve",
        help="approve the next partition of a Configuration's rollout (approval: Manual)",
        description="Record your approval of one partition of the Configuration's current "
        "generation; the controller then rolls that partition out. Needs the transom-operator "
        "role (create on approvals.transom.dev).",
    )
    p.add_argument("configuration", metavar="CONFIGURATION", help="name of the Configuration")
    p.add_argument(
        "--partition",
        "-p",
        metavar="P",
        help="the partition to approve (default: the first of this generation still waiting)",
    )
    p.add_argument(
        "--namespace", "-n", default="default", help="namespace of the Configuration (default)"
    )
    p.add_argument("--reason", default="", help="why, kept with the approval")
    add_kubeconfig(p)
    p.set_defaults(func=_approve)


def _approve(args: argparse.Namespace) -> int:
    from transom.controller.approvals import ApprovalError, approve
    from transom.kube.client import Kube

    async def main() -> int:
        async with Kube(kube_config(args.kubeconfig)) as kube:
            done = await approve(
                kube, args.namespace, args.configuration, args.partition, args.reason
            )
        print(
            f"approved partition {done.partition} of {done.namespace}/{done.configuration} "
            f"generation {done.generation} as {done.approver}"
        )
        return 0

    try:
        return asyncio.run(main())
    except ApprovalError as e:
        raise CliError(str(e)) from None
