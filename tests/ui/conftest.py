"""Debian's Chromium driven by Playwright (never a browser download), with a fresh profile."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Screenshots land here (gitignored) as well as in the test's tmp_path.
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"


@pytest.fixture
async def browser_page(tmp_path: Path) -> AsyncIterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip("needs Debian's chromium (tools/browser/setup.sh installs it)")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1400, "height": 900},
        )
        try:
            yield context.pages[0] if context.pages else await context.new_page()
        finally:
            await context.close()


def keep(screenshot: Path) -> Path:
    """Copy a screenshot into test-artifacts/ui for people to look at after the run."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(screenshot, ARTIFACTS / screenshot.name))


@pytest.fixture
async def chromium() -> AsyncIterator[Any]:
    """The browser itself, for tests that open several contexts (one per signed-in person)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("needs Debian's chromium (tools/browser/setup.sh installs it)")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()
