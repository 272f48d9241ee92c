"""A real browser for the console's tests: Debian's chromium driven by Playwright.

Playwright's own browser download cannot work here, so the system ``chromium`` is
launched through ``executable_path``. Where either is missing the browser tests are
skipped, and the suite's conftest prints a red banner at the end naming why.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
"""Screenshots of every page the browser test visits (gitignored)."""


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def browser_problem() -> str | None:
    """Why no browser test can run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (make venv installs it)"
    if chromium_path() is None:
        return "the system chromium is missing (as root, make test runs apt-get install chromium)"
    return None


@contextmanager
def chromium_page(width: int, height: int, timeout_s: float) -> Iterator[Any]:
    """A page in a fresh headless chromium with a window of ``width`` x ``height``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        page.set_default_timeout(timeout_s * 1000)
        yield page
        context.close()
        browser.close()
