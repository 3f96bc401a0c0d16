"""The ASGI app (SPEC §4): `service.main:app`, built by `create_app()`."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from . import assets, docs, problems
from .auth import AccessControl, AccessMiddleware
from .engine import Nabla
from .fastpath import FastPathMiddleware
from .metrics import MetricsMiddleware
from .routers import derivatives, functions, health, pages
from .settings import Settings, get_settings

DESCRIPTION = """Exact derivatives (automatic differentiation) of programs in a small array
language. Register a program or send it inline, then ask for its value, gradient, Jacobian,
Hessian, Hessian-vector product, JVP, VJP or Laplacian at a point or a batch of points, or
for the derivative itself, written as programs in the language (`/v1/derive`).
Arrays travel as nested lists (non-finite numbers as the strings "NaN", "Infinity" and
"-Infinity"), as tesseract-core base64 array objects (`Accept: application/json+base64`), or
in framed binary bodies (`application/octet-stream` with `Inference-Header-Content-Length`,
the Open Inference Protocol's binary tensor extension). Every error is RFC 9457
`application/problem+json`."""

API_VERSION = "1.0"  # of the HTTP contract (SPEC v1), not of the package: see /healthz
TAGS = [
    {"name": "derivatives", "description": "The operations of SPEC §3"},
    {"name": "functions", "description": "The function store: content-addressed programs"},
    {"name": "operations", "description": "Health, limits, cache and metrics"},
]


def create_app(settings: Settings | None = None) -> FastAPI:
    nabla = Nabla(settings or get_settings())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Everything imported so far (numpy, scipy, pydantic, ...) lives as long as the
        # process: freezing it keeps full GC passes from rescanning it. Without this, the
        # collections triggered while parsing a 2 MB body cost as much as the request.
        await run_in_threadpool(nabla.open_store)  # the schema is ready before any request
        if nabla.settings.gc_freeze:
            gc.collect()
            gc.freeze()
        yield
        nabla.close()

    # FastAPI's own /docs and /redoc load from CDNs: ours are in routers/pages.py.
    app = FastAPI(title="Nabla", version=API_VERSION, description=DESCRIPTION,
                  openapi_tags=TAGS, lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.nabla = nabla
    # Routes go in flat and ahead of /docs: recent FastAPI (0.165 here) keeps included routers
    # nested, and matching through them cost ~12 us per request (a small cached gradient
    # costs ~40 us in all).
    app.router.routes[:0] = [route for module in (derivatives, functions, health)
                             for route in module.router.routes]
    app.include_router(pages.router)
    app.router.routes.extend(assets.mounts())
    problems.install(app)
    docs.install(app)
    app.add_middleware(FastPathMiddleware, nabla=nabla)  # inside metrics: it is timed too
    access = AccessControl(nabla.settings.key_digests(), nabla.settings.rate())
    if access.enabled:  # off by default: no key, no limit, not even a pass-through layer
        app.add_middleware(AccessMiddleware, control=access)  # in front of the fast lane
    app.add_middleware(MetricsMiddleware, metrics=nabla.metrics)
    return app


app = create_app()
