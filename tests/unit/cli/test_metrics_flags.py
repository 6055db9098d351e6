"""`--metrics-addr` for the controller and the agent, and `metrics.address` in agent.yaml: off
unless given, a bare port is loopback only, a bad address is one clear line naming what is
allowed, a port in use too."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from transom.agent.config import ConfigError, load_config
from transom.cli import main as cli_main
from transom.cli.agent import _config
from transom.cli.errors import explain
from transom.kube.address import AddressError


def agent_args(tmp_path: Path, *flags: str) -> argparse.Namespace:
    config = tmp_path / "agent.yaml"
    if not config.exists():
        config.write_text("{}\n")
    return cli_main.parser(None).parse_args(["agent", "run", "--config", str(config), *flags])


def test_no_metrics_endpoint_unless_asked_for(tmp_path: Path) -> None:
    assert _config(agent_args(tmp_path)).metrics is None
    args = cli_main.parser(None).parse_args(["controller", "run"])
    assert args.metrics_addr is None


def test_the_agent_flag_overrides_the_file_and_a_bare_port_is_loopback(tmp_path: Path) -> None:
    (tmp_path / "agent.yaml").write_text(yaml.safe_dump({"metrics": {"address": 9100}}))
    assert load_config(tmp_path / "agent.yaml").metrics is not None
    config = _config(agent_args(tmp_path))
    assert config.metrics is not None and config.metrics.listen == ("127.0.0.1", 9100)
    config = _config(agent_args(tmp_path, "--metrics-addr", "0.0.0.0:9464"))
    assert config.metrics is not None and config.metrics.listen == ("0.0.0.0", 9464)  # noqa: S104


@pytest.mark.parametrize(
    ("address", "says"), [(":9464", "give the host too"), ("web01:http", "port must be a number")]
)
def test_a_bad_agent_address_names_the_field(tmp_path: Path, address: str, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        _config(agent_args(tmp_path, "--metrics-addr", address))
    assert "metrics.address" in str(info.value) and says in str(info.value)


def test_a_bad_controller_address_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli_main.parser(None).parse_args(["controller", "run", "--metrics-addr", ":8080"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--metrics-addr" in err and "127.0.0.1:8080 for this machine only" in err
    assert "Traceback" not in err


def test_a_port_in_use_is_explained_not_a_bug() -> None:
    explained = explain(AddressError("cannot serve metrics on 127.0.0.1:8080: in use"))
    assert explained is not None and "127.0.0.1:8080" in explained.message
