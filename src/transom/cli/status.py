"""`transom status [HOST]`: which commit is on which box."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from transom.cli.cluster import add_kubeconfig, kube_config


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("status", help="hosts x configurations: generation, revision, state")
    p.add_argument("host", nargs="?", help="show one host, with per-resource detail")
    p.add_argument(
        "--output", "-o", choices=("table", "json"), default="table", help="output format"
    )
    add_kubeconfig(p)
    p.set_defaults(func=_status)


def _status(args: argparse.Namespace) -> int:
    from transom.controller import report
    from transom.kube.client import ApiError, Kube

    async def main() -> int:
        cfg = kube_config(args.kubeconfig)
        async with Kube(cfg) as kube:
            table = await report.rows(kube, args.host)
            details = await report.resources(kube, args.host) if args.host else []
        if args.output == "json":
            print(
                json.dumps({"hosts": [r.__dict__ for r in table], "resources": details}, indent=2)
            )
            return 0
        print(report.render(table))
        if details:
            print()
            for d in details:
                state = (
                    "ok"
                    if d.get("inDesiredState")
                    else ("skipped" if d.get("skipped") else "FAILED")
                )
                drift = " (drifted)" if d.get("drifted") else ""
                msg = f"  {d.get('message')}" if d.get("message") else ""
                print(f"  {d['assignment']}  {d['name']} [{d['type']}]  {state}{drift}{msg}")
        return 0

    try:
        return asyncio.run(main())
    except (LookupError, ApiError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
