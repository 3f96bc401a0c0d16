"""The floor for bench/http_load.py and bench/wire.py: a bare FastAPI app that parses the
same body with orjson and answers JSON of the same size (an echo), with nothing else; and
for binary bodies, one that answers the bytes it got. Whatever Nabla spends above this is
its own cost.

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


@app.post("/echo-bytes")
async def echo_bytes(request: Request) -> Response:
    return Response(await request.body(), media_type="application/octet-stream")


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
