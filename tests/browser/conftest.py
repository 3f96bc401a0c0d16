"""A real browser on the real server: Debian's Chromium driven by Playwright (never a browser
Playwright downloads), against uvicorn on a free loopback port.

One server and one browser for this package (not the session: Playwright's sync API keeps an
event loop running in the main thread while it is open, and later tests call asyncio.run);
a fresh context (cookies, storage, cache) per test.
Every page is watched (`watch.Watched`): a request to any host but 127.0.0.1 is refused and
recorded, and console errors and uncaught exceptions are recorded; `check()` fails on any.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.watch import CHROMIUM, FLAGS, Watched
from tests.servers import uvicorn_server


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # Four compute slots: a page aborts requests it no longer needs, but the server finishes
    # them; with the default (one per CPU) a quick test can meet a 503, which the page
    # retries but the browser logs as an error.
    with uvicorn_server(tmp_path_factory.mktemp("browser-store"),
                        {"max_concurrent": 4}) as (base, _):
        yield base


@pytest.fixture(scope="package")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make test` installs it"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium: Any, server: str) -> Iterator[Watched]:
    context = chromium.new_context(viewport={"width": 1440, "height": 1000})
    context.set_default_timeout(20_000)
    try:
        yield Watched(context.new_page(), server)
    finally:
        context.close()
