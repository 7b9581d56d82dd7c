"""Headless Chromium (Debian's, driven by Playwright) for the browser tests, and screenshots."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from tests.monitoring.status.servers import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts" / "browser_notice"


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A browser, closed (with its processes) when the block ends, pass or fail."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                    headless=True)
        try:
            yield browser
        finally:
            browser.close()


def shot(page: Any, name: str) -> None:
    """Save a full-page screenshot under ``test-artifacts/browser_notice/``."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
