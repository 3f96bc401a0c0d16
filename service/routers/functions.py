"""POST /v1/functions (register) and GET /v1/functions/{id} (SPEC §4)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from .. import examples
from ..deps import BodyDep, NablaDep
from ..docs import FUNCTION_HEADER, problems, request_body
from ..schemas import FunctionCreate, FunctionInfo

router = APIRouter(prefix="/v1/functions", tags=["functions"])
JSON = "application/json"


@router.post(
    "", status_code=201, response_model=FunctionInfo,
    summary="Register a program; its id is a hash of the normalized text",
    responses={200: {"description": "already registered (same id)", "model": FunctionInfo},
               **problems(400, 401, 408, 413, 415, 422, 429, 503)},
    openapi_extra=request_body(FunctionCreate, {"rosenbrock": {
        "summary": "Rosenbrock", "value": examples.REGISTER}}))
async def register_function(nabla: NablaDep, body: BodyDep) -> Response:
    content, created = await nabla.pool.run(nabla.register, body)
    return Response(content, status_code=201 if created else 200, media_type=JSON)


@router.get("/{function_id}", response_model=FunctionInfo,
            responses=problems(401, 404, 422, 429, 503),
            openapi_extra={"parameters": [FUNCTION_HEADER]},
            summary="A registered program: text, inputs, normalized form")
async def get_function(function_id: str, nabla: NablaDep) -> Response:
    # A primary-key lookup: not a computation, so the shared thread pool rather than a slot.
    return Response(await run_in_threadpool(nabla.function, function_id), media_type=JSON)
