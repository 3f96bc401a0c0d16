"""The edge between the wire and numpy, server side (SPEC §4): every array of a request comes
in through `ArrayReader`, every answer goes out through `reply`.

Arrays in. A value is either an array object (`encoding.py`: base64, json or binary buffers,
shape and dtype checked before anything is decoded) or a nested list of numbers, where the
strings "NaN", "Infinity" and "-Infinity" stand for the non-finite values. Booleans, null,
other strings (even "1") and objects that are not array objects are refused with a `request`
error naming the input, before numpy could coerce them. Every array leaves as float64,
aligned and writable (a kernel sees the same array types whatever the form, so compiled
loops never specialise again).

Fast path for lists: numpy infers a numeric dtype from a list only when every leaf is a
number or a boolean (a string gives a text dtype, anything else an object one). Booleans
become 0 or 1, so only leaves equal to 0 or 1 need a look at their Python type; random data
has none. When that is inconclusive, an exact walk checks each innermost list at C speed
(`set(map(type, row))`, about 1.6 ms for 1000x100) and names what is wrong.

Answers out: the result dict in the asked form, written by orjson (finite arrays natively,
at C speed), framed when binary.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from adcore.errors import LimitExceededError, RequestError

from .encoding import MAX_NDIM, NON_FINITE, WireError, decode_array, encode
from .framing import HEADER_LENGTH, JSON, OCTET_STREAM, Part, Payload, assemble
from .problems import ProblemException

__all__ = ["ArrayReader", "Reply", "ReplyResponse", "dumps", "reply", "send_reply", "to_array",
           "wire_problem"]
_NUMBER_TYPES = frozenset({float, int})
_ALLOWED = frozenset({float, int, str, list})
BOOLEAN_LOOKS = 64  # leaves equal to 0 or 1 looked up one by one before the exact walk
FAST_PATH_ROWS = 64  # outer lengths from which the numeric fast path pays


def to_array(value: Any, where: str) -> np.ndarray:
    """A float64 array from a JSON value, or a `request` error saying what is wrong."""
    if type(value) is list:
        # Short lists: the exact walk alone is cheaper than numpy's inference plus a look.
        array, clean = _numeric(value) if len(value) >= FAST_PATH_ROWS else (None, False)
        if not clean:
            _check(value, where)
        if array is not None:  # numeric and, clean or walked, free of booleans
            return array.astype(np.float64, copy=False)
    elif type(value) is str:
        return np.array(_non_finite(value, where))
    elif type(value) not in _NUMBER_TYPES:
        raise RequestError(f"{where} must be a number, a nested list of numbers or an array "
                           f"object, not {_json_type(value)}")
    try:
        return np.array(value, dtype=np.float64)
    except (ValueError, TypeError):
        raise RequestError(f"{where} is ragged: its rows have different lengths") from None


def _numeric(value: list) -> tuple[np.ndarray | None, bool]:
    """(numpy's numeric array or None, whether it is known to hold no boolean). Not clean
    means the exact walk must decide, or explain what is wrong."""
    try:
        array = np.array(value)
    except (ValueError, TypeError, OverflowError):  # ragged, or worse: the walk will say
        return None, False
    if array.dtype.kind not in "fi" or array.ndim > MAX_NDIM:
        return None, False
    suspects = np.flatnonzero((array == 0) | (array == 1))
    if len(suspects) > BOOLEAN_LOOKS:
        return array, False
    for flat in suspects:
        leaf: Any = value
        for i in np.unravel_index(flat, array.shape):
            leaf = leaf[i]
        if type(leaf) is bool:
            return None, False
    return array, True


def _check(rows: list, where: str, depth: int = 1) -> None:
    """Walk down to the innermost lists; refuse anything numpy would silently coerce."""
    if depth > MAX_NDIM:
        raise RequestError(f"{where} has more than {MAX_NDIM} dimensions")
    types = set(map(type, rows))
    if types <= _NUMBER_TYPES:
        return
    if types == {list}:
        for row in rows:
            _check(row, where, depth + 1)
        return
    if not types <= _ALLOWED:
        bad = next(x for x in rows if type(x) not in _ALLOWED)
        raise RequestError(f"{where} holds {_json_type(bad)}; only numbers and the strings "
                           f"{', '.join(map(repr, NON_FINITE))} are allowed")
    if list in types:
        raise RequestError(f"{where} is ragged: it mixes numbers and lists at one depth")
    for x in rows:
        if type(x) is str:
            _non_finite(x, where)  # numpy parses the three allowed strings itself


def _non_finite(text: str, where: str) -> float:
    try:
        return NON_FINITE[text]
    except KeyError:
        raise RequestError(f"{where} holds the string {text[:40]!r}; the only strings allowed "
                           f"are {', '.join(map(repr, NON_FINITE))}") from None


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, str | memoryview):  # a view: a long string set aside unparsed
        return "a string"
    return type(value).__name__


# ---------------------------------------------------------------- arrays in

class ArrayReader:
    """The one way arrays of a request become numpy: each operation's fields (`at`, `v`,
    `u`, and any array field added later) go through `one` or `named`, so every form is
    accepted everywhere a nested list is."""

    def __init__(self, max_elements: int, payload: Payload | None = None):
        self.max_elements = max_elements
        self.payload = payload

    def one(self, value: Any, where: str) -> np.ndarray:
        if type(value) is not dict:
            return to_array(value, where)
        try:
            array = decode_array(value, where, max_elements=self.max_elements,
                                 source=self.payload, from_list=to_array)
        except WireError as err:
            raise wire_problem(err) from None
        array = array.astype(np.float64, copy=False)
        if not (array.flags.writeable and array.flags.aligned):
            array = array.copy()  # bytes of a base64 string, or an unpadded binary header
        return array

    def named(self, values: Mapping[str, Any], where: str) -> dict[str, np.ndarray]:
        """`where` is a template for error messages, such as "input '{}'"."""
        return {name: self.one(value, where.format(name)) for name, value in values.items()}


def wire_problem(err: WireError) -> Exception:
    """A wire error as the problem it is answered with."""
    message = str(err)
    if err.kind == "limit":
        return LimitExceededError(message, limit=err.limit, value=err.value)
    if err.kind == "framing":
        return ProblemException(400, "framing", message)
    return RequestError(message)


# ---------------------------------------------------------------- answers out

_DUMPS_OPTIONS = orjson.OPT_SERIALIZE_NUMPY
NO_HEADERS: dict[str, str] = {}  # shared, never mutated


class Reply(NamedTuple):
    """An answer: its body in parts (sent one after another: arrays leave from their own
    memory, never joined into one copy of the body), media type and extra headers (never
    mutated: shared constants)."""

    parts: list[Part]
    media_type: str
    headers: Mapping[str, str]

    @property
    def content(self) -> bytes:
        """The body in one piece (tests; the server sends the parts)."""
        return b"".join(self.parts)


def dumps(content: Any) -> bytes:
    return orjson.dumps(content, option=_DUMPS_OPTIONS)


def reply(results: dict[str, Any], form: str, *, id: str, meta: dict[str, Any]) -> Reply:
    """An operation's answer, `{"id", **results, "meta"}`, with the results' arrays in
    `form` ("list", "base64" or "binary"); `id` and `meta` are plain JSON."""
    tree, buffers = encode(results, form, native=True)
    parts, length = assemble(dumps({"id": id, **tree, "meta": meta}), form, buffers)
    if length is None:
        return Reply(parts, JSON, NO_HEADERS)
    return Reply(parts, OCTET_STREAM, {HEADER_LENGTH: str(length)})


async def send_reply(send: Send, reply: Reply) -> None:
    """`reply` as a 200 answer, straight on the ASGI channel. Parts may be memoryviews (of
    result arrays, cast to bytes), as starlette's own responses send them."""
    *parts, last = reply.parts
    length = len(last) + sum(map(len, parts))
    headers = [(b"content-type", reply.media_type.encode()),
               (b"content-length", str(length).encode())]
    if reply.headers:
        headers += [(k.encode(), v.encode()) for k, v in reply.headers.items()]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    for part in parts:
        await send({"type": "http.response.body", "body": part, "more_body": True})
    await send({"type": "http.response.body", "body": last})


class ReplyResponse(Response):
    """A Reply returned by a route."""

    def __init__(self, reply: Reply):
        self.status_code = 200
        self.background = None
        self.reply = reply

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_reply(send, self.reply)
        if self.background is not None:  # FastAPI may hand a route's tasks over
            await self.background()
