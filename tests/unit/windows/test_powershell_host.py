"""The PowerShell host's Python side, against a fake process speaking the same protocol:
framing, errors, restart after death and after a timeout, the per-process preamble."""

from __future__ import annotations

import base64
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from transom.providers.windows import win32
from transom.providers.windows.facade import (
    E_FAIL,
    ERROR_ACCESS_DENIED,
    WAIT_TIMEOUT,
    WindowsApiError,
)
from transom.providers.windows.powershell import (
    PowerShellHost,
    default_command,
    error_code,
    host_script,
    operations_script,
)
from transom.providers.windows.system32 import powershell_exe

FAKE = [sys.executable, str(Path(__file__).with_name("fake_pwsh.py"))]


@pytest.fixture
def host() -> Iterator[PowerShellHost]:
    h = PowerShellHost(FAKE, preamble="define-functions", timeout=10)
    yield h
    h.close()


def test_one_process_serves_many_calls(host: PowerShellHost) -> None:
    pids = {host.call("pid") for _ in range(20)}
    assert len(pids) == 1 and host.starts == 1


def test_arguments_round_trip(host: PowerShellHost) -> None:
    args = {"Name": "caf\u00e9 \u2713", "Nested": {"List": [1, 2, {"x": None}]}, "Flag": True}
    assert host.invoke("echo", args) == args


def test_stray_output_is_skipped(host: PowerShellHost) -> None:
    assert host.call("noisy") == "clean"
    assert host.call("pid") == host.pid


def test_errors_carry_the_win32_code(host: PowerShellHost) -> None:
    with pytest.raises(WindowsApiError) as caught:
        host.call("fail")
    assert caught.value.winerror == ERROR_ACCESS_DENIED
    assert caught.value.function == "UnauthorizedAccess"
    assert "denied" in str(caught.value)
    # The host survives a failed script.
    assert host.starts == 1 and host.call("pid") == host.pid


def test_death_fails_the_call_and_the_next_call_restarts(host: PowerShellHost) -> None:
    first = host.call("pid")
    with pytest.raises(WindowsApiError) as caught:
        host.call("die")
    assert "host crashed" in str(caught.value)
    assert host.call("pid") != first
    assert host.starts == 2
    # The preamble ran again in the new process.
    assert host.call("defined") == ["define-functions"]


def test_timeout_kills_and_restarts(host: PowerShellHost) -> None:
    first = host.call("pid")
    with pytest.raises(WindowsApiError) as caught:
        host.call("sleep", {"seconds": 30}, timeout=0.5)
    assert caught.value.winerror == WAIT_TIMEOUT
    assert host.call("pid") != first


def test_error_codes() -> None:
    assert error_code(-2147024891) == ERROR_ACCESS_DENIED
    assert error_code(1603) == 1603
    assert error_code(None) == E_FAIL
    assert error_code(0) == E_FAIL


def test_default_command_carries_the_host_script() -> None:
    command = default_command()
    assert command[0] == powershell_exe() and command[0].casefold().endswith(
        "\\system32\\windowspowershell\\v1.0\\powershell.exe"
    )
    assert "-NonInteractive" in command
    encoded = command[command.index("-EncodedCommand") + 1]
    assert base64.b64decode(encoded).decode("utf-16-le") == host_script()
    # CreateProcess limits a command line to 32,767 characters.
    assert len(" ".join(command)) < 32_767


def test_every_operation_win32_calls_is_defined() -> None:
    called = set(re.findall(r'ps\.call\(\s*"(\w+-Transom\w+)"', Path(win32.__file__).read_text()))
    defined = set(re.findall(r"function global:([\w-]+)", operations_script()))
    assert called and called <= defined
    assert "Resolve-TransomDscResource" in defined
