"""Request bodies as read from the wire: JSON, or a JSON part framed with binary arrays
(`framing.py`), parsed strictly: orjson refuses NaN and Infinity tokens, and an object that
repeats a key is refused too."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import orjson

from . import framing
from .convert import wire_problem
from .encoding import WireError
from .problems import ProblemException


@dataclass(slots=True)
class Incoming:
    """One request's body as read, with its Accept header. `parse` reads the JSON (part)
    once and lets go of the raw bytes: from then on only what the request still needs is
    held (the parsed JSON, and for a framed body the binary part its arrays point into)."""

    raw: bytes | bytearray
    header_length: int | None = None  # Inference-Header-Content-Length: framed binary
    accept: str = ""
    parsed: Any = None
    payload: framing.Payload | None = None

    def parse(self) -> Any:
        if self.parsed is None:
            if self.header_length is None:
                text, buffers = framing.set_aside_base64(self.raw)
                parsed = parse_json(text)
                self.parsed = framing.restore_base64(parsed, buffers) if buffers else parsed
            else:
                try:
                    header, rest = framing.split(self.raw, self.header_length)
                    parsed = parse_json(bytes(header))
                    self.payload = framing.Payload(parsed, rest)
                except WireError as err:
                    raise wire_problem(err) from None
                self.parsed = parsed
            self.raw = b""
        return self.parsed


def parse_json(raw: bytes | bytearray) -> Any:
    """Strict JSON: orjson refuses NaN and Infinity tokens, as RFC 8259 does. An object that
    repeats a key is refused too (orjson would keep the last value silently, so
    `{"program": "a", "program": "b"}` would mean whatever the last writer wanted)."""
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise ProblemException(400, "json", f"the body is not valid JSON: {err}") from None
    if type(parsed) is dict:
        repeated = repeated_key(raw, parsed)
        if repeated is not None:
            raise ProblemException(400, "json", "the body is not valid JSON for this API: "
                                   f"the key {repeated[:80]!r} appears twice in one object")
    return parsed


QUICK_STRINGS = 4096  # bodies with more strings than this take the exact check directly
SCAN_BYTES = 64 * 1024  # up to this size, counting ':' over the whole body is quicker
_WHITESPACE = b" \t\r\n"


def repeated_key(raw: bytes | bytearray, parsed: dict[str, Any]) -> str | None:
    """A key that some object of `raw` repeats, or None. Quick test first: a key is a string
    followed by ':', so when the text's keys number as many as the keys of the parsed objects
    (reachable through objects), nothing repeats. Only when that cannot decide (many strings,
    objects inside arrays, or a real repeat) is the body parsed again by the exact, slower
    check. The quick test jumps from quote to quote (memchr speed): it never scans the
    numbers of a big list or the inside of a base64 buffer byte by byte."""
    keys = _keys_in_text(raw)
    if keys is not None and keys == _count_keys(parsed):
        return None
    return _exact_repeated_key(raw)


def _keys_in_text(raw: bytes | bytearray) -> int | None:
    """How many strings of this (valid) JSON text are keys (each key owns the one ':'
    outside strings that follows it); None when that is not quick to tell."""
    if len(raw) <= SCAN_BYTES:  # a few whole-body scans at C speed beat a Python loop
        if b'\\"' in raw:
            return None
        return raw.count(b":") - b"".join(raw.split(b'"')[1::2]).count(b":")
    keys, start = 0, raw.find(b'"')
    for _ in range(QUICK_STRINGS):
        if start == -1:
            return keys
        end = raw.find(b'"', start + 1)
        while raw[end - 1] == 0x5C and framing.escaped(raw, end):  # a backslash before it
            end = raw.find(b'"', end + 1)
        after = end + 1
        while after < len(raw) and raw[after] in _WHITESPACE:
            after += 1
        keys += after < len(raw) and raw[after] == 0x3A  # ':'
        start = raw.find(b'"', after)
    return None


def _count_keys(top: dict[str, Any]) -> int:
    count, pending = 0, [top]  # a loop, not recursion: objects may nest 1024 deep
    while pending:
        node = pending.pop()
        count += len(node)
        for value in node.values():  # a plain loop: a generator costs 3x on small bodies
            if type(value) is dict:
                pending.append(value)
    return count


class _Repeated(Exception):
    def __init__(self, key: str):
        self.key = key


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _Repeated(key)
        found[key] = value
    return found


def _exact_repeated_key(raw: bytes) -> str | None:
    try:
        json.loads(raw, object_pairs_hook=_unique_pairs)
    except _Repeated as repeated:
        return repeated.key
    except RecursionError:
        raise ProblemException(400, "json", "the body is not valid JSON for this API: it "
                               "nests objects and arrays too deeply") from None
    return None
