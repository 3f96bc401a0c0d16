"""Python client for the Nabla HTTP API (SPEC §5): the operations of SPEC §3 as methods,
numpy arrays in and out.

    from service.client import Client
    with Client("http://127.0.0.1:8000") as nabla:
        nabla.gradient("sum(x^2)", at={"x": np.ones(3)})["gradient"]["x"]
        f = nabla.compile("sum(100*(x[1:]-x[:-1]^2)^2 + (1-x[:-1])^2)")
        f.hessian(at={"x": np.zeros(5)}, diagonal=True)

A program is registered once per client and then sent by id, also in the `Nabla-Function`
header, so that a load balancer can keep each function on one replica (SPEC §4). When a
server does not know the id (a fresh in-memory server), or its store is unavailable, the
request is repeated with the text inline.
Sparse blocks (`sparse=True`, `sparsity`) come back as `scipy.sparse.coo_array`s (a list of
them, one per point, for a batch); scipy is imported only then.
429 and 503 answers are retried after their Retry-After, and requests whose connection broke
mid-way after a short pause, a bounded number of times (every request is idempotent). Errors
raise `ProblemError`, which carries the RFC 9457 fields (kind, line, column, excerpt, ...).

Arrays travel in the form `arrays` says: "list" (JSON numbers), "base64" (tesseract-core
array objects) or "binary" (a framed body, `framing.py`). The default, "auto", sends a request
as JSON lists while its arrays hold fewer than `binary_from_bytes` bytes and framed binary
from there on (measured in bench/RESULTS_wire.md: below it JSON is as fast and stays on the
server's fast lane; from 1,024 numbers binary is 1.5x quicker), and always asks for binary
answers: a small request can have a large answer (a Hessian), and a small answer costs the
same either way. Arrays keep their dtype on the way out (float32 travels as float32; the server reads it as float64); results come back
as float64 arrays (int64 for sparse indices), writable, and NaN and infinities included.

This module needs only httpx and numpy (`pip install nabla`, see README): no server, no
compiler, no orjson.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Self

import httpx
import numpy as np

from . import framing
from .encoding import FORMS, decode, encode, is_array_object

ArrayLike = Any  # numpy array, nested list or number
RETRY_STATUSES = (429, 503)
PLAIN_KEYS = ("id", "meta")  # everything else in an answer holds results
BINARY_FROM_BYTES = 4 * 1024  # "auto": framed binary from this many bytes of arrays on
ACCEPT = {"list": framing.JSON, "base64": framing.JSON_BASE64, "binary": framing.OCTET_STREAM}
FUNCTION_HEADER = "Nabla-Function"  # the id a request uses: what a load balancer hashes on
INLINE_FALLBACK = ("unknown-function", "store-unavailable")
CONNECTION_RETRY_S = 0.2


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
                 sleep: Callable[[float], None] = time.sleep, arrays: str = "auto",
                 binary_from_bytes: int = BINARY_FROM_BYTES):
        if arrays != "auto" and arrays not in FORMS:
            raise ValueError(f"arrays must be 'auto' or one of {FORMS}, not {arrays!r}")
        self.base_url = base_url.rstrip("/")
        self._http = http_client or httpx.Client(timeout=timeout)
        self._owns_http = http_client is None
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self.arrays = arrays
        self.binary_from_bytes = binary_from_bytes
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
        return self._request("GET", f"/v1/functions/{function_id}", function=function_id)

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

    def sparsity(self, program: str, at: Mapping[str, ArrayLike], **options: Any) -> dict:
        """The pattern (`of`: "jacobian" or "hessian") as boolean coo_arrays, and
        meta["coloring"]."""
        return self.run("sparsity", program, at, **options)

    def run(self, operation: str, program: str, at: Mapping[str, ArrayLike], *,
            wrt: Sequence[str] | str | None = None, batch: Sequence[str] | None = None,
            v: Mapping[str, ArrayLike] | None = None, u: ArrayLike | None = None,
            mode: str | None = None, diagonal: bool | None = None,
            sparse: bool | None = None, triangle: str | None = None, of: str | None = None
            ) -> dict[str, Any]:
        """POST /v1/{operation}; results come back as numpy arrays (sparse blocks as
        scipy.sparse.coo_array), plus `id` and `meta`."""
        body: dict[str, Any] = {"at": {name: _array(a) for name, a in at.items()}}
        options = {"wrt": wrt, "batch": batch, "mode": mode, "diagonal": diagonal,
                   "sparse": sparse, "triangle": triangle, "of": of}
        body.update({key: value for key, value in options.items() if value is not None})
        if v is not None:
            body["v"] = {name: _array(a) for name, a in v.items()}
        if u is not None:
            body["u"] = _array(u)
        return self._post_with_program(f"/v1/{operation}", body, program, self._form(body))

    def derive(self, program: str, operation: str, *, wrt: Sequence[str] | str | None = None,
               at: Mapping[str, ArrayLike] | None = None,
               shapes: Mapping[str, Sequence[int]] | None = None, mode: str | None = None,
               diagonal: bool | None = None, format: str | None = None) -> dict[str, Any]:
        """POST /v1/derive: the derivative as programs in the language, for the shapes of
        `at` or the given `shapes`: {"programs": {x: {"program": text, "id", "inputs",
        "shape"}}, ...} (Hessian blocks programs[x][y]); format "latex" adds "latex"."""
        body: dict[str, Any] = {"operation": operation}
        if at is not None:
            body["at"] = {name: _array(a) for name, a in at.items()}
        options = {"wrt": wrt, "shapes": shapes, "mode": mode, "diagonal": diagonal,
                   "format": format}
        body.update({key: value for key, value in options.items() if value is not None})
        return self._post_with_program("/v1/derive", body, program, None)  # text: plain JSON

    def _post_with_program(self, path: str, body: dict[str, Any], program: str,
                           form: str | None) -> Any:
        """By id once registered (also in the Nabla-Function header); inline when the
        server does not know the id or cannot reach its store. `form` as in `_request`."""
        try:
            function_id = self.register(program)
            return self._request("POST", path, {**body, "function": function_id}, form,
                                 function=function_id)
        except ProblemError as err:
            if err.kind not in INLINE_FALLBACK:
                raise
            self._ids.pop(program, None)  # the server lost it: inline now, register next time
            return self._request("POST", path, {**body, "program": program}, form)

    def _form(self, body: dict[str, Any]) -> str:
        if self.arrays != "auto":
            return self.arrays
        arrays = [*body["at"].values(), *body.get("v", {}).values()]
        size = sum(a.nbytes for a in arrays) + (body["u"].nbytes if "u" in body else 0)
        return "binary" if size >= self.binary_from_bytes else "list"

    # ---- operations endpoints ----

    def health(self) -> dict[str, Any]:
        return self._request("GET", "/healthz")

    def limits(self) -> dict[str, Any]:
        return self._request("GET", "/v1/limits")

    def cache(self) -> dict[str, Any]:
        return self._request("GET", "/v1/cache")

    # ---- plumbing ----

    def _request(self, method: str, path: str, body: Any = None,
                 form: str | None = None, *, function: str | None = None) -> Any:
        """One call, retried on 429 and 503, and on a connection lost mid-answer (a replica
        died behind the load balancer; every request of this API is idempotent). With a
        `form`, an operation: its arrays go in that form and the answer's results come back
        as numpy."""
        content, headers = _encode_body(body, form or "list")
        if form is not None:
            headers["accept"] = ACCEPT["binary" if self.arrays == "auto" else form]
        if function is not None:
            headers[FUNCTION_HEADER] = function
        for attempt in range(self.max_retries + 1):
            try:
                with self._http.stream(method, self.base_url + path, content=content,
                                       headers=headers) as response:
                    raw = bytearray()
                    for chunk in response.iter_bytes():
                        raw += chunk  # one growing buffer: arrays are read in place from it
            except (httpx.NetworkError, httpx.RemoteProtocolError):
                if attempt == self.max_retries:
                    raise
                self._sleep(CONNECTION_RETRY_S)
                continue
            if response.status_code not in RETRY_STATUSES or attempt == self.max_retries:
                break
            self._sleep(self._retry_after(response))
        if not response.is_success:
            raise ProblemError(response.status_code, _problem(response, raw))
        return _decode_answer(response, raw) if form is not None else json.loads(raw)

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


def _array(value: ArrayLike) -> np.ndarray:
    array = np.asarray(value)
    return array if array.dtype.kind in "iuf" else np.asarray(value, dtype=np.float64)


def _encode_body(body: Any, form: str) -> tuple[bytes | None, dict[str, str]]:
    if body is None:
        return None, {}
    tree, buffers = encode(body, form)
    parts, length = framing.assemble(_dumps(tree), form, buffers)
    content = b"".join(parts)  # the one copy of the arrays' bytes (httpx wants one body)
    if length is None:
        return content, {"content-type": framing.JSON}
    return content, {"content-type": framing.OCTET_STREAM, framing.HEADER_LENGTH: str(length)}


def _dumps(tree: Any) -> bytes:
    """Compact strict JSON (arrays' bytes are not in it: `framing.assemble` adds them)."""
    return json.dumps(tree, separators=(",", ":"), allow_nan=False).encode()


def _decode_answer(response: httpx.Response, raw: bytearray) -> Any:
    if response.headers.get("content-type", "").startswith(framing.OCTET_STREAM):
        length = framing.header_length(response.headers.get(framing.HEADER_LENGTH, ""),
                                       len(raw))
        header, rest = framing.split(raw, length)
        answer = json.loads(bytes(header))
        payload = framing.Payload(answer, rest)
    else:  # long base64 buffers are read in place, not copied into strings by json
        text, buffers = framing.set_aside_base64(raw)
        answer, payload = framing.restore_base64(json.loads(text), buffers), None
    if not isinstance(answer, dict):
        return answer
    return {key: value if key in PLAIN_KEYS else _results(value, payload)
            for key, value in answer.items()}


def _results(value: Any, payload: framing.Payload | None) -> Any:
    if isinstance(value, dict) and value.get("format") == "coo":
        return _coo(value, payload)
    if isinstance(value, dict) and not is_array_object(value):
        return {key: _results(item, payload) for key, item in value.items()}
    return decode(value, payload)


def _coo(block: dict[str, Any], payload: framing.Payload | None) -> Any:
    """One scipy.sparse.coo_array; a list of them (sharing the indices) for a batch; the
    pattern as booleans when there are no values (sparsity)."""
    from scipy import sparse  # deferred: only sparse results need scipy

    shape = tuple(int(n) for n in block["shape"])
    row, col = (decode(block[k], payload).astype(np.int64, copy=False) for k in ("row", "col"))
    if "data" not in block:
        return sparse.coo_array((np.ones(len(row), dtype=bool), (row, col)), shape=shape)
    data = decode(block["data"], payload)
    if data.ndim == 2:
        return [sparse.coo_array((values, (row, col)), shape=shape) for values in data]
    return sparse.coo_array((data, (row, col)), shape=shape)


def _problem(response: httpx.Response, raw: bytes | bytearray) -> dict[str, Any]:
    try:
        problem = json.loads(raw)
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        problem = {"title": response.reason_phrase,
                   "detail": raw[:500].decode("utf-8", "replace")}
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

    def sparsity(self, at: Mapping[str, ArrayLike], **options: Any) -> dict:
        return self.run("sparsity", at, **options)
    def derive(self, operation: str, **options: Any) -> dict:
        return self.client.derive(self.source, operation, **options)


__all__ = ["Client", "ProblemError", "RemoteProgram"]
