"""The `--kubeconfig` option the admin commands share, and reading it with an answer a new
user can act on when there is none."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from transom.cli.errors import CliError

if TYPE_CHECKING:
    from transom.kube.config import KubeConfig

KUBECONFIG_HELP = "kubeconfig file to use (default: $KUBECONFIG, then ~/.kube/config)"
#: What to do without a kubeconfig, on one line.
NO_KUBECONFIG_HINT = (
    "set KUBECONFIG or pass --kubeconfig FILE; for a local development cluster run "
    "`transom dev controlplane up` and eval what it prints"
)


def add_kubeconfig(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", metavar="FILE", help=KUBECONFIG_HELP)


def kube_config(path: str | None) -> KubeConfig:
    """The kubeconfig of ``--kubeconfig`` or the environment; a CliError if there is none or
    it cannot be read."""
    import yaml

    from transom.kube.config import KubeConfig

    env = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    where = path or env or str(Path.home() / ".kube" / "config")
    try:
        return KubeConfig.load(path)
    except FileNotFoundError:
        if path:
            raise CliError(f"kubeconfig {path} not found", NO_KUBECONFIG_HINT) from None
        raise CliError(f"no kubeconfig: {where} does not exist", NO_KUBECONFIG_HINT) from None
    except (OSError, yaml.YAMLError, ValueError, KeyError, TypeError, AttributeError) as exc:
        detail = f"missing {exc}" if isinstance(exc, KeyError) else str(exc).splitlines()[0]
        raise CliError(
            f"kubeconfig {where} cannot be used: {detail}",
            "check it with `kubectl config view`, or point --kubeconfig at another",
        ) from None
