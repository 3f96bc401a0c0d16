"""The floor for bench/http_load.py: a bare FastAPI app that parses the same body with orjson
and answers JSON of the same size (an echo), with nothing else. Whatever Nabla spends above
this is its own cost.

    uvicorn bench.http_floor:app --loop uvloop --http httptools --no-access-log
"""

from __future__ import annotations

import orjson
from fastapi import FastAPI, Request, Response

app = FastAPI()


@app.post("/echo")
async def echo(request: Request) -> Response:
    return Response(orjson.dumps(orjson.loads(await request.body())),
                    media_type="application/json")


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
