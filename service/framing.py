"""Binary bodies, framed as the Open Inference Protocol's binary tensor extension (KServe,
Triton) frames them, the media types that choose how arrays travel, and long base64 strings
read in place from a JSON body. Shared by the server and the client (numpy and the standard
library only).

A framed body is a JSON object, then the raw little-endian C-order bytes of every binary array
(`encoding.py`) back to back, in the order the arrays appear in the JSON text. The header
`Inference-Header-Content-Length` gives the JSON part's length in bytes, and Content-Type is
`application/octet-stream`. The JSON part may end in spaces (JSON whitespace): we pad it to a
multiple of 8 bytes so that every float64 array starts 8-byte aligned, which numpy reads in
place and JavaScript's `Float64Array` requires. Answers carry `binary_data_offset` too (from
the end of the JSON part), so that readers whose JSON objects forget key order still work;
in a request it is optional and, when given, must be where the arrays before it end.

Which form an answer's arrays take: the body field `arrays` ("list", "base64", "binary") when
given, else the `Accept` media type of highest q among `application/json` (list),
`application/json+base64` (base64, as tesseract-core asks) and `application/octet-stream`
(binary), the first listed on a tie; anything else (`*/*`, none) means list.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

from .encoding import PLACEHOLDER, WireError

JSON = "application/json"
JSON_BASE64 = "application/json+base64"
OCTET_STREAM = "application/octet-stream"
HEADER_LENGTH = "Inference-Header-Content-Length"
ALIGN = 8
ACCEPT_FORMS = {JSON: "list", JSON_BASE64: "base64", OCTET_STREAM: "binary"}
MEDIA_TYPES = {"list": JSON, "base64": JSON, "binary": OCTET_STREAM}
_ESCAPED = "\\u0000" + PLACEHOLDER[1:]  # a placeholder as JSON text spells it


def requested_form(accept: str, field: str | None) -> str:
    """The form of an answer's arrays: the body field, else the Accept header."""
    return field if field is not None else _accepted_form(accept)


@lru_cache(maxsize=256)  # clients repeat their Accept header: parsed once each
def _accepted_form(accept: str) -> str:
    best, best_q = "list", 0.0
    for media_range in accept.split(","):
        media, *params = media_range.split(";")
        form = ACCEPT_FORMS.get(media.strip().lower())
        if form is not None and (q := _quality(params)) > best_q:
            best, best_q = form, q
    return best


def _quality(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return min(max(float(value), 0.0), 1.0)
            except ValueError:
                return 0.0  # a malformed weight does not choose anything
    return 1.0


Part = bytes | memoryview


def assemble(text: bytes, form: str, buffers: Sequence[memoryview]
             ) -> tuple[list[Part], int | None]:
    """The parts of a body, in order, never joined here (a server sends them one after
    another; a client joins them once), and the JSON part's length for a framed body.
    `text` is the JSON of a tree that `encoding.encode` made, `buffers` its encoded arrays:
    binary, the JSON padded to ALIGN and then the arrays; base64, the JSON text with each
    buffer put between the quotes of its placeholder."""
    if form == "binary":
        padded = len(text) + -len(text) % ALIGN
        return [text.ljust(padded), *buffers], padded
    parts: list[Part] = []
    done = 0
    for index, buffer in enumerate(buffers):  # placeholders come in document order
        mark = f'{_ESCAPED}{index}"'.encode()
        start = text.index(mark, done)
        parts += [text[done:start], buffer]
        done = start + len(mark) - 1  # the closing quote stays in the text
    parts.append(text[done:] if done else text)
    return parts, None


def header_length(value: str, body_length: int | None) -> int:
    """Inference-Header-Content-Length, checked against the body's length when known."""
    if not value.isdigit() or not value.isascii():
        raise WireError(f"{HEADER_LENGTH} must be a length in bytes, not {value[:40]!r}",
                        "framing")
    length = int(value)
    if body_length is not None and length > body_length:
        raise WireError(f"{HEADER_LENGTH} is {length}, past the end of the {body_length}-byte "
                        "body", "framing")
    return length


class Payload:
    """The binary part of a framed body. On creation, every binary array of the parsed JSON
    part is given its span, in document order, and the spans must cover the binary part
    exactly: a truncated body or stray bytes are refused before any array is decoded."""

    def __init__(self, tree: Any, view: memoryview):
        self._view = view
        self._spans: dict[int, int] = {}  # id of an array's `data` -> its offset
        end = 0
        for data in _binary_data(tree):
            size, offset = data.get("binary_data_size"), data.get("binary_data_offset")
            if type(size) is not int or size < 0:
                raise WireError(f"binary_data_size must be a byte count, not {str(size)[:40]}")
            if offset is not None and offset != end:
                raise WireError(f"a binary_data_offset is {str(offset)[:40]}, but the arrays "
                                f"before it end at byte {end}: the bytes follow the JSON "
                                "part in the order the arrays appear in it", "framing")
            self._spans[id(data)] = end
            end += size
        if end != len(view):
            raise WireError(
                f"the binary arrays announce {end} bytes, but {len(view)} follow the JSON part"
                + (" (a truncated body?)" if end > len(view) else ": the rest belongs to no "
                   "array"), "framing")

    def take(self, data: dict[str, Any], nbytes: int, where: str) -> memoryview:
        offset = self._spans.get(id(data))
        if offset is None:  # a binary array where no array can be (inside a list, say)
            raise WireError(f"{where} is a binary array in a place the framing does not read")
        return self._view[offset:offset + nbytes]


_END = object()


def _binary_data(tree: Any) -> Iterator[dict[str, Any]]:
    """The `data` of each binary array object, in document order (orjson and the stdlib's
    json keep it). Only objects are walked, never lists: a nested list of a million numbers
    holds no array objects and costs nothing here. A loop, not recursion: objects may nest
    1024 deep."""
    stack = [iter((tree,))]
    while stack:
        node = next(stack[-1], _END)
        if node is _END:
            stack.pop()
        elif type(node) is dict:
            data = node.get("data")
            if "object_type" in node and type(data) is dict and data.get("encoding") == "binary":
                yield data
            else:
                stack.append(iter(node.values()))


def split(raw: bytes | bytearray, length: int) -> tuple[memoryview, memoryview]:
    """(JSON part, binary part) of a framed body."""
    view = memoryview(raw)
    if length > len(view):
        raise WireError(f"{HEADER_LENGTH} is {length}, past the end of the {len(view)}-byte "
                        "body", "framing")
    return view[:length], view[length:]


# ---- long base64 strings, set aside before JSON is parsed (server and client)

_BUFFER_KEY = b'"buffer":"'
SET_ASIDE_BYTES = 64 * 1024  # base64 strings from this long are read in place


def set_aside_base64(raw: bytes | bytearray) -> tuple[bytes | bytearray, list[memoryview]]:
    """The body with each long `"buffer":"..."` string emptied to a placeholder, and those
    strings as views into the body. orjson would copy such a string twice over (a 10 MB
    base64 buffer cost 30 MB and 8 ms to parse); set aside, it is decoded straight from the
    body. Sound because in JSON text an unescaped `"` always opens or closes a string: if
    the text is valid JSON, `"buffer":"` is the key `buffer` and the start of its string
    value, which ends at the next `"` when it holds no backslash (base64 never does; any
    other case is left to the parser). Invalid text stays invalid with the strings emptied,
    and base64 decoding checks every character it is given."""
    if len(raw) <= SET_ASIDE_BYTES:
        return raw, []
    parts: list[bytes | memoryview] = []
    buffers: list[memoryview] = []
    view, done = memoryview(raw), 0
    key = raw.find(_BUFFER_KEY)
    while key != -1:
        start = key + len(_BUFFER_KEY)
        end = raw.find(b'"', start)
        if end - start >= SET_ASIDE_BYTES and raw.find(b"\\", start, end) == -1 \
                and not escaped(raw, key):
            parts += [view[done:start], f"{_ESCAPED}{len(buffers)}".encode()]
            buffers.append(view[start:end])
            done = end
        key = raw.find(_BUFFER_KEY, max(end, start))
    if not buffers:
        return raw, []
    return b"".join([*parts, view[done:]]), buffers


def restore_base64(parsed: Any, buffers: list[memoryview]) -> Any:
    """Each placeholder `buffer` back to its view (a memoryview: no JSON value can be one)."""
    pending = [parsed] if buffers else []
    while pending:  # a loop, not recursion: objects may nest 1024 deep
        node = pending.pop()
        if type(node) is not dict:
            continue
        value = node.get("buffer")
        if type(value) is str and value.startswith(PLACEHOLDER):
            node["buffer"] = buffers[int(value[len(PLACEHOLDER):])]
        pending.extend(node.values())
    return parsed


def escaped(raw: bytes | bytearray, quote: int) -> bool:
    """Whether the quote at `quote` is escaped: an odd run of backslashes before it."""
    run = 0
    while raw[quote - 1 - run] == 0x5C:
        run += 1
    return run % 2 == 1
