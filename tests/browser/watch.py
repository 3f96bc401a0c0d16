"""What the browser tests watch on every page, and how they read a screenshot."""

from __future__ import annotations

import base64
import os
import re
from typing import Any
from urllib.parse import urlsplit

CHROMIUM = os.environ.get("NABLA_CHROMIUM", "/usr/bin/chromium")
# The flags Chromium needs on a machine with no network: no background calls to Google's
# services (they are refused here, many at a time), no sandbox as root, no GPU.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOCAL_SCHEMES = ("data", "blob", "about")


class Watched:
    """A page with what it did that a test should fail on."""

    def __init__(self, page: Any, base: str):
        self.page = page
        self.base = base
        self.external: list[str] = []
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        page.on("request", self._request)
        page.context.route("**/*", self._route)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text} ({message.location.get('url')})")

    def _request(self, request: Any) -> None:
        parts = urlsplit(request.url)
        if parts.scheme not in LOCAL_SCHEMES and parts.hostname != "127.0.0.1":
            self.external.append(request.url)

    def _route(self, route: Any) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            route.abort("blockedbyclient")

    def goto(self, path: str) -> None:
        self.page.goto(self.base + path)

    def check(self, allowed: tuple[str, ...] = ()) -> None:
        """No request left the machine; no console error or uncaught exception, but those
        matching one of the `allowed` patterns (a test that provokes a 4xx, say)."""
        assert self.external == [], f"requests left 127.0.0.1: {self.external}"
        unexpected = [e for e in self.errors if not any(re.search(a, e) for a in allowed)]
        assert unexpected == [], unexpected



def pixel_spread(chromium: Any, png: bytes) -> tuple[float, int]:
    """(standard deviation of the grey levels, number of distinct colours) of a PNG, read back
    through a canvas in a blank page of the same browser: a blank screenshot gives (0, 1)."""
    page = chromium.new_page()
    try:
        return tuple(page.evaluate("""async (url) => {
            const image = new Image();
            image.src = url;
            await image.decode();
            const canvas = document.createElement("canvas");
            [canvas.width, canvas.height] = [image.width, image.height];
            const context = canvas.getContext("2d");
            context.drawImage(image, 0, 0);
            const {data} = context.getImageData(0, 0, image.width, image.height);
            let sum = 0, squares = 0;
            const colours = new Set();
            for (let i = 0; i < data.length; i += 4) {
                const grey = (data[i] + data[i + 1] + data[i + 2]) / 3;
                sum += grey; squares += grey * grey;
                colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
            }
            const n = data.length / 4;
            return [Math.sqrt(squares / n - (sum / n) ** 2), colours.size];
        }""", "data:image/png;base64," + base64.b64encode(png).decode()))
    finally:
        page.close()
