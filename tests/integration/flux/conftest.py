"""A Git repository per test; the session's Flux and Git server are in tests/conftest.py."""

from __future__ import annotations

import pytest

from transom.dev.gitserver import GitServer, Repository


@pytest.fixture
def git_repo(git_server: GitServer, namespace: str) -> Repository:
    """An empty repository of its own for each test, named after the test's namespace."""
    return git_server.create_repository(namespace)
