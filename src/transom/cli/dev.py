"""`transom dev controlplane up|down|env`: a local Kubernetes control plane for development."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from transom.dev import background
from transom.dev.controlplane import ControlPlaneError, run_foreground


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dev = subparsers.add_parser("dev", help="development tools")
    dev_sub = dev.add_subparsers(dest="dev_command", required=True)
    cp = dev_sub.add_parser(
        "controlplane", help="a local etcd + kube-apiserver + kube-controller-manager"
    )
    cp_sub = cp.add_subparsers(dest="cp_command", required=True)
    for name, help_ in (
        ("up", "start in the background (builds the binaries on first use)"),
        ("down", "stop and remove all state"),
        ("env", "print `export KUBECONFIG=...` for eval"),
    ):
        p = cp_sub.add_parser(name, help=help_)
        p.add_argument(
            "--dir",
            type=Path,
            default=None,
            metavar="DIR",
            help=f"state directory (default: {background.default_dir()})",
        )
        if name == "up":
            p.add_argument("--foreground", action="store_true", help="run until Ctrl-C")
    cp.set_defaults(func=_controlplane)


def _controlplane(args: argparse.Namespace) -> int:
    directory: Path = args.dir or background.default_dir()
    try:
        if args.cp_command == "up" and args.foreground:
            return run_foreground(directory)
        if args.cp_command == "up":
            path = background.up(directory)
            print(f"export KUBECONFIG={path}")
            return 0
        if args.cp_command == "down":
            stopped = background.down(directory)
            print("stopped" if stopped else "not running", file=sys.stderr)
            return 0
        print(f"export KUBECONFIG={background.kubeconfig(directory)}")
        return 0
    except ControlPlaneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
