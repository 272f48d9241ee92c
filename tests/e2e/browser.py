"""A real browser for the console's tests: Debian's chromium driven by Playwright.

Playwright's own browser download cannot work here, so the system ``chromium`` is
launched through ``executable_path``. Where either is missing the browser tests are
skipped, and :func:`banner` gives the loud line the e2e conftest prints at the end.
"""

from __future__ import annotations

import shutil
from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
"""Screenshots of every page the browser test visits (gitignored)."""

_problems: list[str] = []


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


def note_skipped(reason: str) -> None:
    _problems.append(reason)


def banner() -> str | None:
    if not _problems:
        return None
    line = "!" * 78
    return f"{line}\n!!! BROWSER TESTS SKIPPED: {_problems[0]}\n{line}"
