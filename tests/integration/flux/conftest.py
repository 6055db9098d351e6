"""Real Flux for the end-to-end tests: source-controller and kustomize-controller started once
per session against the session's control plane, and a smart-HTTP Git server on loopback."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from transom.dev.controlplane import ControlPlane
from transom.dev.flux import FluxControllers
from transom.dev.gitserver import GitServer, Repository


@pytest.fixture(scope="session")
def flux(controlplane: ControlPlane) -> Iterator[FluxControllers]:
    """Flux's CRDs installed, flux-system created, both controllers running and healthy."""
    with FluxControllers(controlplane) as controllers:
        # Printed so the warm start time shows in every test run's output.
        print(f"\n[flux] ready in {controllers.startup_seconds:.2f} s", file=sys.stderr)
        yield controllers


@pytest.fixture(scope="session")
def git_server() -> Iterator[GitServer]:
    with GitServer() as server:
        yield server


@pytest.fixture
def git_repo(git_server: GitServer, namespace: str) -> Repository:
    """An empty repository of its own for each test, named after the test's namespace."""
    return git_server.create_repository(namespace)
