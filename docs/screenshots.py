"""Regenerate the README's screenshots of the playground (by hand, not in `make test`):

    .venv/bin/python -m docs.screenshots

A real server on a free port and Debian's Chromium, as the browser tests use them.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from tests.browser.watch import CHROMIUM, FLAGS
from tests.servers import uvicorn_server

HERE = Path(__file__).resolve().parent
VIEWPORT = {"width": 1440, "height": 940}


def settle(page: Page, operation: str) -> None:
    page.wait_for_selector(f"#result[data-operation={operation}]")
    page.wait_for_timeout(800)  # plotly's transitions


def contour(page: Page) -> None:  # the first example: Himmelblau's Hessian
    settle(page, "hessian")


def curves(page: Page) -> None:
    page.select_option("#examples", label="A damped wave: f, f′ and f″ on an interval")
    page.wait_for_function("() => document.getElementById('function-plot').data?.length === 3")
    settle(page, "gradient")


def error(page: Page) -> None:
    page.select_option("#examples", label="Jacobian of a sigmoid layer with respect to W")
    settle(page, "jacobian")
    page.fill("#program", "# a hidden layer\nh = inputs @ W + b\nsigmoid(h) * tanh(h))")
    page.wait_for_selector("#backdrop mark")


def main() -> None:
    with tempfile.TemporaryDirectory() as data, \
            uvicorn_server(Path(data) / "store", {"max_concurrent": 4}) as (base, _), \
            sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        for name, scene in (("contour", contour), ("curves", curves), ("error", error)):
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(base + "/")
            page.wait_for_selector("#diagnostic.ok")
            scene(page)
            page.screenshot(path=HERE / f"playground-{name}.png")
            page.close()
        browser.close()


if __name__ == "__main__":
    main()
