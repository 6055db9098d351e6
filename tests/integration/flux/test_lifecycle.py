"""The Flux controllers never outlive the process that started them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from transom.dev.controlplane import ControlPlane

pytestmark = pytest.mark.flux

STARTER = """
import json, sys, time
from pathlib import Path
from transom.dev.flux import FluxControllers
with FluxControllers(Path(sys.argv[1]), Path(sys.argv[2])) as flux:
    print(json.dumps(flux.pids()), flush=True)
    time.sleep(600)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead but not yet reaped by its (new) parent.
    return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()


def test_controllers_die_with_a_killed_parent(controlplane: ControlPlane, tmp_path: Path) -> None:
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER, str(controlplane.kubeconfig), str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert starter.stdout is not None
    pids = json.loads(starter.stdout.readline())
    assert set(pids) == {"source-controller", "kustomize-controller"}
    assert all(alive(pid) for pid in pids.values())

    starter.send_signal(signal.SIGKILL)  # no clean-up code runs: only PR_SET_PDEATHSIG acts
    starter.wait()
    deadline = time.monotonic() + 15
    while any(alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in pids.values())
