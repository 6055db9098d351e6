"""The offline Windows bundle, built by `tools/bundle/build.sh` and unpacked, its own Python run
under Wine (the lane's Wine and prefix, tools/wine): so an incomplete bundle fails `make test`.
Skipped, with the reason, where the lane is not set up (`make wine`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.agent.conftest import standin  # noqa: F401 - the fixture

REPO = Path(__file__).resolve().parents[2]
WINE_TOOLS = REPO / "tools" / "wine"


def lane(*names: str) -> list[str]:
    """Values the lane's lane.sh computes (one place for the prefix and Wine settings)."""
    script = f'source {WINE_TOOLS}/lane.sh && wine_env && printf "%s\\n" ' + " ".join(
        f'"${n}"' for n in names
    )
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


def windows_path(path: Path) -> str:
    return "Z:" + str(path).replace("/", "\\")


@dataclass
class Bundle:
    zip_path: Path
    root: Path

    @property
    def python(self) -> str:
        return windows_path(self.root / "python" / "python.exe")


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    wine_home, pydir = lane("WINE_HOME", "WIN_PYDIR")
    if not (Path(wine_home) / "READY").exists() or shutil.which("wine") is None:
        pytest.skip("the Windows lane is not set up (make wine): Wine runs the bundle's Python")
    built = subprocess.run(
        [str(REPO / "tools" / "bundle" / "build.sh")], capture_output=True, text=True, check=False
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (zip_path,) = sorted((REPO / "dist").glob("transom-agent-*-win-amd64.zip"))
    into = tmp_path_factory.mktemp("bundle")
    with zipfile.ZipFile(zip_path) as z:
        z.extractall(into)
    (root,) = into.iterdir()
    py = root / "python"
    # Wine 8, not the bundle: it lacks bcryptprimitives!ProcessPrng (the lane's shim supplies
    # it) and propsys!VariantToString, which _wmi.pyd imports (platform falls back without it).
    shutil.copy(Path(pydir) / "bcryptprimitives.dll", py)
    (py / "_wmi.pyd").unlink()
    return Bundle(zip_path, root)


class WineMachine:
    """One Wine prefix (a fresh copy of the lane's) with a wineserver kept up between calls."""

    def __init__(self, prefix: Path) -> None:
        debug, overrides = lane("WINEDEBUG", "WINEDLLOVERRIDES")
        self.prefix = prefix
        self.env = {
            **os.environ,
            "WINEPREFIX": str(prefix),
            "WINEDEBUG": debug,
            "WINEDLLOVERRIDES": overrides,
        }
        subprocess.run(["wineserver", "-p"], env=self.env, check=True)
        # Start the prefix's own background processes (services.exe, ...) now, holding no pipe
        # of ours: started by a later call, they would keep its output open after it exits.
        subprocess.run(
            ["wine", "cmd", "/c", "exit"],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=300,
            check=False,
        )

    def linux_path(self, windows: str) -> Path:
        assert windows[:3].upper() == "C:\\", windows
        return self.prefix / "drive_c" / windows[3:].replace("\\", "/")

    def run(
        self, exe: str, *args: str, timeout: float = 300, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        # A pipe for every standard stream: Wine 8 hands Windows CPython an invalid handle for
        # a missing one, which it dies of in init_sys_streams.
        return subprocess.run(
            ["wine", exe, *args],
            input="",
            capture_output=True,
            text=True,
            errors="replace",
            env={**self.env, **(env or {})},
            timeout=timeout,
            check=False,
        )


@pytest.fixture
def machine() -> Iterator[WineMachine]:
    made = subprocess.run(
        [str(WINE_TOOLS / "prefix.sh"), "new"], capture_output=True, text=True, check=True
    )
    prefix = Path(made.stdout.strip())
    try:
        yield WineMachine(prefix)
    finally:
        subprocess.run([str(WINE_TOOLS / "prefix.sh"), "rm", str(prefix)], check=False)
