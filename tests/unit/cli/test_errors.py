"""The dispatcher's one mapping from failures to what a user reads."""

from __future__ import annotations

import argparse
import ssl
from pathlib import Path

import pytest

from transom.api.errors import FieldError, SpecError
from transom.cli import main as cli_main
from transom.cli.errors import EXIT_INTERNAL, CliError, explain, report
from transom.kube.client import ApiError


@pytest.mark.parametrize(
    ("exc", "says", "hint"),
    [
        (CliError("no kubeconfig", "set KUBECONFIG"), "no kubeconfig", "set KUBECONFIG"),
        (ApiError(403, {"reason": "Forbidden", "message": "no"}), "403 Forbidden", "RBAC"),
        (ApiError(401, {"reason": "Unauthorized"}), "refused", "credentials"),
        (ssl.SSLCertVerificationError(1, "self-signed certificate"), "could not be verified", "CA"),
        (ConnectionRefusedError(111, "Connection refused"), "cannot reach", "running"),
        (FileNotFoundError(2, "No such file or directory", "x.yaml"), "x.yaml: no such", ""),
        (PermissionError(13, "Permission denied", "/var/lib/x"), "/var/lib/x: permission", "user"),
        (TimeoutError("after 5 s"), "timed out: after 5 s", ""),
        (SpecError([FieldError("resources[0].file.path", "required")]), "resources[0]", ""),
    ],
)
def test_known_failures_say_what_and_what_to_do(
    exc: BaseException, says: str, hint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    known = explain(exc)
    assert known is not None
    assert report(exc) == known.code != 0
    err = capsys.readouterr().err
    assert says in err.splitlines()[0] or says in err
    assert hint in err
    assert len(err.strip().splitlines()) <= 3


def test_a_long_validation_list_is_cut_short() -> None:
    exc = SpecError([FieldError(f"resources[{i}]", "bad") for i in range(30)])
    known = explain(exc)
    assert known is not None and "and 22 more" in known.message
    assert len(known.message.splitlines()) == 10


def test_an_unexpected_error_is_one_line_and_points_at_debug(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert explain(KeyError("boom")) is None
    assert report(KeyError("boom")) == EXIT_INTERNAL
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "transom: unexpected error: KeyError: 'boom'"
    assert "--debug" in err[1] and len(err) == 2


def _raise(args: argparse.Namespace) -> int:
    raise KeyError("boom")


@pytest.fixture
def broken_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("transom.cli.status._status", _raise)


@pytest.mark.usefixtures("broken_command")
def test_main_reports_and_debug_shows_the_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main.main(["status"]) == EXIT_INTERNAL
    assert "Traceback" not in capsys.readouterr().err
    with pytest.raises(KeyError):
        cli_main.main(["--debug", "status"])
    monkeypatch.setenv("TRANSOM_DEBUG", "1")
    with pytest.raises(KeyError):
        cli_main.main(["status"])


@pytest.mark.parametrize("command", [["apply", "-f"], ["agent", "run", "--policy"]])
def test_a_yaml_syntax_error_is_one_line_with_its_place(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("resources:\n  - name: [unclosed\n")
    assert cli_main.main([*command, str(broken), "--state-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) <= 2, err
    assert "broken.yaml" in err[-1] and "line 3, column 1" in err[-1], err


@pytest.mark.parametrize("server", ["notaurl", "http://k8s:6443", "https://"])
def test_enroll_wants_an_https_server_url(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli_main.main(["agent", "enroll", "--server", server, "--name", "web01"])
    assert exited.value.code == 2
    assert "https://" in capsys.readouterr().err
