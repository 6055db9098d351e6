"""Shared fixtures: one real control plane per test session, a namespace per test."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from transom.controller import setup
from transom.controller.manager import Controller
from transom.dev.controlplane import ControlPlane
from transom.dev.flux import FluxControllers
from transom.dev.gitserver import GitServer
from transom.kube.client import Kube
from transom.kube.config import KubeConfig
from transom.kube.kinds import NAMESPACES

from . import platforms

# Property tests assert invariants, not speed (speed is the benchmarks' job): no per-example
# deadline and no too-slow health check, which failed several of them on a loaded machine.
settings.register_profile(
    "transom", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("transom")


def pytest_configure(config: pytest.Config) -> None:
    for marker in platforms.MARKERS:
        config.addinivalue_line("markers", marker)


def pytest_runtest_setup(item: pytest.Item) -> None:
    reason = platforms.skip_reason(item)
    if reason is not None:
        pytest.skip(reason)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    platforms.summary(terminalreporter)


def report(request: pytest.FixtureRequest, line: str) -> None:
    """A line in pytest's own output, past output capture: start-up times belong in every run."""
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if capture is None:
        print(line, file=sys.stderr)
        return
    with capture.global_and_fixture_disabled():
        print(f"\n{line}", file=sys.stderr)


@pytest.fixture(scope="session")
def controlplane(request: pytest.FixtureRequest) -> Iterator[ControlPlane]:
    """etcd + kube-apiserver + kube-controller-manager on loopback, with Transom's CRDs."""
    with ControlPlane() as cp:
        # Printed so the warm start time shows in every test run's output.
        report(request, f"[controlplane] ready in {cp.startup_seconds:.2f} s at {cp.url}")
        os.environ["TRANSOM_TEST_KUBECONFIG"] = str(cp.kubeconfig)
        from transom.kube.install import install_crds_sync

        install_crds_sync(cp.kubeconfig)
        yield cp


@pytest.fixture
async def kube(controlplane: ControlPlane) -> AsyncIterator[Kube]:
    async with Kube(KubeConfig.from_file(controlplane.kubeconfig)) as client:
        yield client


@pytest.fixture
async def controller(kube: Kube) -> AsyncIterator[Controller]:
    """The real controller, in the test's event loop, with fast liveness checks."""
    await setup.ensure(kube, crds=False)
    ctl = Controller(kube, liveness_interval=0.2)
    task = asyncio.create_task(ctl.run())
    yield ctl
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
async def namespace(kube: Kube, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A fresh namespace for one test, deleted afterwards."""
    base = request.node.name.lower().replace("_", "-")
    base = "".join(c for c in base if c.isalnum() or c == "-")[:40].strip("-")
    name = f"{base}-{secrets.token_hex(3)}"
    await kube.create(NAMESPACES.path(), {"metadata": {"name": name}})
    yield name
    await kube.delete(NAMESPACES.path(name=name))


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def flux(controlplane: ControlPlane, request: pytest.FixtureRequest) -> Iterator[FluxControllers]:
    """Real source-controller and kustomize-controller, once per session, out of cluster."""
    with FluxControllers(controlplane) as controllers:
        report(request, f"[flux] ready in {controllers.startup_seconds:.2f} s")
        yield controllers


@pytest.fixture(scope="session")
def git_server() -> Iterator[GitServer]:
    """A smart-HTTP Git server on loopback."""
    with GitServer() as server:
        yield server
