from __future__ import annotations

import sys
from pathlib import Path

import pytest

from transom.agent.service import platform_backend


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux backend")
def test_linux_backend_has_posix_providers_and_inotify(tmp_path: Path) -> None:
    backend = platform_backend(tmp_path)
    assert {"File", "Directory", "Archive", "EnvironmentVariable", "Command"} <= set(
        backend.providers
    )
    notifier = backend.notifier_factory()
    assert type(notifier).__name__ == "InotifyNotifier"
    assert notifier is not None
    notifier.close()
