"""Python client for the Nabla HTTP API (SPEC §5): the operations of SPEC §3 as methods,
numpy arrays in and out.

    from service.client import Client
    with Client("http://127.0.0.1:8000") as nabla:
        nabla.gradient("sum(x^2)", at={"x": np.ones(3)})["gradient"]["x"]
        f = nabla.compile("sum(100*(x[1:]-x[:-1]^2)^2 + (1-x[:-1])^2)")
        f.hessian(at={"x": np.zeros(5)}, diagonal=True)

A program is registered once per client and then sent by id; when a server does not know the
id (a fresh in-memory server, another replica), the request is repeated with the text inline.
429 and 503 answers are retried after their Retry-After, a bounded number of times. Errors
raise `ProblemError`, which carries the RFC 9457 fields (kind, line, column, excerpt, ...).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Self

import httpx
import orjson

from .encoding import decode, jsonable

ArrayLike = Any  # numpy array, nested list or number
RESULT_KEYS = ("value", "gradient", "jacobian", "hessian", "hessian_diagonal", "hvp", "jvp",
               "vjp", "laplacian")
RETRY_STATUSES = (429, 503)


class ProblemError(Exception):
    """An error answer of the server, with the fields of its problem+json body."""

    def __init__(self, status: int, problem: Mapping[str, Any]):
        self.status = status
        self.problem = dict(problem)
        self.type: str = self.problem.get("type", "about:blank")
        self.title: str = self.problem.get("title", "")
        self.detail: str = self.problem.get("detail", "")
        self.kind: str | None = self.problem.get("kind")
        self.line: int | None = self.problem.get("line")
        self.column: int | None = self.problem.get("column")
        self.excerpt: str | None = self.problem.get("excerpt")
        self.hint: str | None = self.problem.get("hint")
        self.limit: str | None = self.problem.get("limit")
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f" at line {self.line}, column {self.column}" if self.line else ""
        text = f"{self.status} {self.kind or self.title}{where}: {self.detail}"
        return f"{text}\n{self.excerpt}" if self.excerpt else text


class Client:
    def __init__(self, base_url: str = "http://127.0.0.1:8000",
                 http_client: httpx.Client | None = None, *, timeout: float = 60.0,
                 max_retries: int = 3, max_retry_wait: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep):
        self.base_url = base_url.rstrip("/")
        self._http = http_client or httpx.Client(timeout=timeout)
        self._owns_http = http_client is None
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self._sleep = sleep
        self._ids: dict[str, str] = {}  # program text -> id registered on this server

    # ---- the store ----

    def register(self, program: str) -> str:
        """Register `program` (once per client) and return its content id."""
        if program not in self._ids:
            self._ids[program] = self._request("POST", "/v1/functions",
                                               {"program": program})["id"]
        return self._ids[program]

    def function(self, function_id: str) -> dict[str, Any]:
        return self._request("GET", f"/v1/functions/{function_id}")

    def compile(self, program: str) -> RemoteProgram:
        """A handle whose methods are the operations, like `adcore.compile(text)`."""
        return RemoteProgram(self, program)

    # ---- the operations of SPEC §3 ----

    def evaluate(self, program: str, at: Mapping[str, ArrayLike], **options: Any) -> dict:
        return self.run("evaluate", program, at, **options)

    def gradient(self, program: str, at: Mapping[str, ArrayLike], **options: Any) -> dict:
        return self.run("gradient", program, at, **options)

    def jacobian(self, program: str, at: Mapping[str, ArrayLike], **options: Any) -> dict:
        return self.run("jacobian", program, at, **options)

    def hessian(self, program: str, at: Mapping[str, ArrayLike], **options: Any) -> dict:
        return self.run("hessian", program, at, **options)

    def hvp(self, program: str, at: Mapping[str, ArrayLike], **options: Any) -> dict:
        return self.run("hvp", program, at, **options)

    def jvp(self, program: str, at: Mapping[str, ArrayLike], **options: Any) -> dict:
        return self.run("jvp", program, at, **options)

    def vjp(self, program: str, at: Mapping[str, ArrayLike], **options: Any) -> dict:
        return self.run("vjp", program, at, **options)

    def laplacian(self, program: str, at: Mapping[str, ArrayLike], **options: Any) -> dict:
        return self.run("laplacian", program, at, **options)

    def run(self, operation: str, program: str, at: Mapping[str, ArrayLike], *,
            wrt: Sequence[str] | str | None = None, batch: Sequence[str] | None = None,
            v: Mapping[str, ArrayLike] | None = None, u: ArrayLike | None = None,
            mode: str | None = None, diagonal: bool | None = None) -> dict[str, Any]:
        """POST /v1/{operation}; results come back as float64 arrays, plus `id` and `meta`."""
        body: dict[str, Any] = {"at": {name: jsonable(a) for name, a in at.items()}}
        options = {"wrt": wrt, "batch": batch, "mode": mode, "diagonal": diagonal}
        body.update({key: value for key, value in options.items() if value is not None})
        if v is not None:
            body["v"] = {name: jsonable(a) for name, a in v.items()}
        if u is not None:
            body["u"] = jsonable(u)
        answer = self._post_with_program(f"/v1/{operation}", body, program)
        return {key: decode(value) if key in RESULT_KEYS else value
                for key, value in answer.items()}

    def derive(self, program: str, operation: str, *, wrt: Sequence[str] | str | None = None,
               at: Mapping[str, ArrayLike] | None = None,
               shapes: Mapping[str, Sequence[int]] | None = None, mode: str | None = None,
               diagonal: bool | None = None, format: str | None = None) -> dict[str, Any]:
        """POST /v1/derive: the derivative as programs in the language, for the shapes of
        `at` or the given `shapes`: {"programs": {x: {"program": text, "id", "inputs",
        "shape"}}, ...} (Hessian blocks programs[x][y]); format "latex" adds "latex"."""
        body: dict[str, Any] = {"operation": operation}
        if at is not None:
            body["at"] = {name: jsonable(a) for name, a in at.items()}
        options = {"wrt": wrt, "shapes": shapes, "mode": mode, "diagonal": diagonal,
                   "format": format}
        body.update({key: value for key, value in options.items() if value is not None})
        return self._post_with_program("/v1/derive", body, program)

    def _post_with_program(self, path: str, body: dict[str, Any], program: str) -> Any:
        """By id once registered; inline when the server does not know the id."""
        try:
            return self._request("POST", path, {**body, "function": self.register(program)})
        except ProblemError as err:
            if err.kind != "unknown-function":
                raise
            self._ids.pop(program, None)  # the server lost it: inline now, register next time
            return self._request("POST", path, {**body, "program": program})

    # ---- operations endpoints ----

    def health(self) -> dict[str, Any]:
        return self._request("GET", "/healthz")

    def limits(self) -> dict[str, Any]:
        return self._request("GET", "/v1/limits")

    def cache(self) -> dict[str, Any]:
        return self._request("GET", "/v1/cache")

    # ---- plumbing ----

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        content = None if body is None else orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
        headers = {"content-type": "application/json"} if content is not None else {}
        for attempt in range(self.max_retries + 1):
            response = self._http.request(method, self.base_url + path, content=content,
                                          headers=headers)
            if response.status_code not in RETRY_STATUSES or attempt == self.max_retries:
                break
            self._sleep(self._retry_after(response))
        if response.is_success:
            return orjson.loads(response.content)
        raise ProblemError(response.status_code, _problem(response))

    def _retry_after(self, response: httpx.Response) -> float:
        try:
            seconds = float(response.headers.get("retry-after", "1"))
        except ValueError:  # an HTTP date: not worth parsing for a short back-off
            seconds = 1.0
        return min(max(seconds, 0.0), self.max_retry_wait)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        problem = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        problem = None
    if not isinstance(problem, dict):
        problem = {"title": response.reason_phrase, "detail": response.text[:500]}
    return problem


class RemoteProgram:
    """One program on one server; the methods mirror `adcore.Program` (SPEC §5)."""

    def __init__(self, client: Client, program: str):
        self.client = client
        self.source = program

    @property
    def id(self) -> str:
        return self.client.register(self.source)

    @property
    def inputs(self) -> tuple[str, ...]:
        return tuple(self.client.function(self.id)["inputs"])

    def run(self, operation: str, at: Mapping[str, ArrayLike], **options: Any) -> dict:
        return self.client.run(operation, self.source, at, **options)

    def evaluate(self, at: Mapping[str, ArrayLike], **options: Any) -> dict:
        return self.run("evaluate", at, **options)

    def gradient(self, at: Mapping[str, ArrayLike], **options: Any) -> dict:
        return self.run("gradient", at, **options)

    def jacobian(self, at: Mapping[str, ArrayLike], **options: Any) -> dict:
        return self.run("jacobian", at, **options)

    def hessian(self, at: Mapping[str, ArrayLike], **options: Any) -> dict:
        return self.run("hessian", at, **options)

    def hvp(self, at: Mapping[str, ArrayLike], **options: Any) -> dict:
        return self.run("hvp", at, **options)

    def jvp(self, at: Mapping[str, ArrayLike], **options: Any) -> dict:
        return self.run("jvp", at, **options)

    def vjp(self, at: Mapping[str, ArrayLike], **options: Any) -> dict:
        return self.run("vjp", at, **options)

    def laplacian(self, at: Mapping[str, ArrayLike], **options: Any) -> dict:
        return self.run("laplacian", at, **options)

    def derive(self, operation: str, **options: Any) -> dict:
        return self.client.derive(self.source, operation, **options)


__all__ = ["Client", "ProblemError", "RemoteProgram"]
