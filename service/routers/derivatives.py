"""POST /v1/{operation} for each operation of SPEC §3; one route per operation so that each
has its own schema, examples and metrics label.

These routes take the `Request` itself rather than `Depends(...)`: on this hot path FastAPI's
dependency solving cost more CPU than a small cached computation (see bench/RESULTS_http.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request, Response

import adcore

from .. import examples
from ..convert import ReplyResponse
from ..deps import nabla_of, operation_body
from ..docs import answers, operation_request_body, problems, request_body, with_function_header
from ..schemas import RESPONSES, DerivativeRequest, DeriveRequest, DeriveResponse

router = APIRouter(prefix="/v1", tags=["derivatives"])

SUMMARIES = {
    "evaluate": "Value of the program",
    "gradient": "Gradient of a scalar program, per wrt input",
    "jacobian": "Jacobian per wrt input (mode: auto, forward, reverse)",
    "hessian": "Hessian blocks per pair of wrt inputs, or only the diagonal",
    "hvp": "Hessian-vector product with tangents v",
    "jvp": "Jacobian-vector product (directional derivative) with tangents v",
    "vjp": "Vector-Jacobian product with a cotangent u",
    "laplacian": "Trace of the Hessian over the wrt inputs",
    "sparsity": "Jacobian or Hessian sparsity pattern and its colouring, no values",
}


def endpoint(operation: str) -> Callable[[Request], Awaitable[Response]]:
    async def compute(request: Request) -> Response:
        return ReplyResponse(await nabla_of(request).compute(operation,
                                                             await operation_body(request)))

    compute.__name__ = operation
    return compute


for _operation in adcore.OPERATIONS:
    router.add_api_route(
        f"/{_operation}", endpoint(_operation), methods=["POST"],
        response_model=RESPONSES[_operation], summary=SUMMARIES[_operation],
        responses={**answers(), **problems(400, 401, 404, 408, 413, 415, 422, 429, 503)},
        openapi_extra=with_function_header(
            operation_request_body(DerivativeRequest, examples.OPERATIONS[_operation])))


@router.post(
    "/derive", response_model=DeriveResponse, summary="The derivative as programs in the language",
    description="One program per result array (`programs[x]`, Hessian blocks "
                "`programs[x][y]`): the operation's simplified IR written as program text "
                "over the original's inputs (then `v_<name>` or `u`). Registering and "
                "evaluating a program gives that result of the operation.",
    responses=problems(400, 401, 404, 408, 413, 415, 422, 429, 503),
    openapi_extra=with_function_header(request_body(DeriveRequest, examples.DERIVE)))
async def derive(request: Request) -> Response:
    nabla = nabla_of(request)
    return ReplyResponse(await nabla.pool.run(nabla.derive_programs, await operation_body(request)))
