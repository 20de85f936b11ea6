"""Headless Chromium (Debian's) for browser tests, driven by Playwright; where test output goes.

The console's pages forbid `eval` (Content-Security-Policy), and Playwright's `wait_for_function`
evaluates its predicate with it; `wait_until` polls with `page.evaluate` instead, which runs over
the DevTools protocol and is not subject to the page's policy.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
OUTPUT = Path(os.environ.get("LITE_TEST_OUTPUT", Path(__file__).parent / "output"))

requires_chromium = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None,
    reason="Debian's chromium is not installed at /usr/bin/chromium (`make test` installs it)",
)


def launch_chromium() -> Iterator[Any]:
    """A browser for a module (use as a generator fixture)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def wait_until(page: Any, expression: str, timeout: float = 20, arg: Any = None) -> Any:
    """Poll a JavaScript expression (or `arg => ...` function) until it is truthy; its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression, arg)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {expression} (last: {value!r})")
        time.sleep(0.05)


def output_dir(name: str) -> Path:
    """A directory for this run's screenshots (tests/output/<name>, gitignored)."""
    found = OUTPUT / name
    found.mkdir(parents=True, exist_ok=True)
    return found
