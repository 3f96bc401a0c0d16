"""Arrays on the wire, both ways, for the server and the client alike (numpy and the standard
library only, so that the client installs with httpx and numpy).

Three forms (SPEC §4, README "Arrays on the wire"):

* `list`: a nested list of numbers; NaN and infinities as the strings "NaN", "Infinity",
  "-Infinity" (JSON has no tokens for them). A 0-d array is a plain number.
* `base64`: tesseract-core's array object, `{"object_type": "array", "shape": [...],
  "dtype": "float64", "data": {"buffer": "<base64 of the little-endian C-order bytes>",
  "encoding": "base64"}}`; `"encoding": "json"` with a (nested) list as `buffer` is read too.
* `binary`: the same object with `"data": {"encoding": "binary", "binary_data_size": n,
  "binary_data_offset": k}`, its bytes framed after the JSON as the Open Inference Protocol's
  binary tensor extension frames them (`framing.py`).

`encode` walks a result (nested dicts) and puts every numpy array leaf, whatever its numeric
dtype (float64 results, int64 indices of sparse blocks), in the chosen form; plain Python
leaves (str, int, float, tuples of ints) stay plain JSON. The bytes of encoded arrays (base64
text, raw binary) never go through a JSON writer: they are set beside the tree, which holds a
placeholder or a reference for each, and `framing.assemble` puts the body together from the
JSON text and them without copying them again. `decode_array` reads one array
object, checking its shape against the limit and its buffer's length against shape and
dtype before decoding anything; `decode` turns a whole answer back into numpy (client side).
"""

from __future__ import annotations

import binascii
import math
import secrets
import sys
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np


def b64encode_stdlib(data: memoryview) -> bytes:
    return binascii.b2a_base64(data, newline=False)


def b64decode_stdlib(text: str | memoryview) -> bytes:
    return binascii.a2b_base64(text, strict_mode=True)


try:  # SIMD base64, ~30x binascii (a server dependency; the light client may lack it)
    import pybase64

    def _b64encode(data: memoryview) -> bytes:
        return pybase64.b64encode(data)

    def _b64decode(text: str | memoryview) -> bytes:
        return pybase64.b64decode(text, validate=True)
except ImportError:
    _b64encode, _b64decode = b64encode_stdlib, b64decode_stdlib

FORMS = ("list", "base64", "binary")
NON_FINITE = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}
# Accepted dtypes, by numpy's name, always little-endian (tesseract-core's names).
DTYPES = {name: np.dtype(name).newbyteorder("<") for name in (
    "float64", "float32", "int8", "int16", "int32", "int64",
    "uint8", "uint16", "uint32", "uint64")}
ARRAY_KEYS = frozenset({"object_type", "shape", "dtype", "data"})
DATA_KEYS = {"base64": frozenset({"encoding", "buffer"}),
             "json": frozenset({"encoding", "buffer"}),
             "binary": frozenset({"encoding", "binary_data_size", "binary_data_offset"})}
REQUIRED_KEYS = {"base64": DATA_KEYS["base64"], "json": DATA_KEYS["json"],
                 "binary": frozenset({"encoding", "binary_data_size"})}
MAX_NDIM = 32  # numpy's own limit is 64; no program of ours needs more
SMALL = 16  # arrays up to this many numbers are written as Python lists
BASE64_PIECE = 4 * 2**16  # characters decoded at once (192 KiB of bytes, in cache): never
# a second full copy of an array
# Stands for a string that is not in the JSON text (a base64 buffer), as `placeholder(i)`;
# random per process, so that no text can forge one. JSON writes the NUL as "\u0000".
PLACEHOLDER = "\x00" + secrets.token_hex(8)


class WireError(ValueError):
    """An array or a body that cannot be read as sent. `kind` is `request` (this array is
    wrong), `framing` (the binary body does not add up) or `limit` (over `limit`)."""

    def __init__(self, message: str, kind: str = "request", limit: str | None = None,
                 value: float | None = None):
        super().__init__(message)
        self.kind = kind
        self.limit = limit
        self.value = value


class BinarySource(Protocol):
    """Where binary arrays' bytes come from (`framing.Payload`)."""

    def take(self, data: dict[str, Any], nbytes: int, where: str) -> memoryview: ...


# ---------------------------------------------------------------- numpy -> wire

def encode(tree: Any, form: str, native: bool = False) -> tuple[Any, list[memoryview]]:
    """`tree` with every numpy array leaf in `form`, and the encoded arrays' bytes in document
    order: for base64 the text of each buffer (the tree holds `placeholder(i)` in its place),
    for binary the raw bytes; `framing.assemble` makes the body. `native`: finite arrays stay
    ndarrays in the list form, for orjson to write at C speed (the server); otherwise they
    become Python lists (the stdlib's json)."""
    buffers: list[memoryview] = []
    if form == "list":
        return _walk(tree, _list_for_orjson if native else _list_for_stdlib), buffers
    if form == "base64":
        def leaf(array: np.ndarray) -> Any:
            buffers.append(memoryview(_b64encode(_bytes_of(array))))
            return array_object(array, {"buffer": placeholder(len(buffers) - 1),
                                        "encoding": "base64"})
    elif form == "binary":
        offset = 0

        def leaf(array: np.ndarray) -> Any:
            nonlocal offset
            view = _bytes_of(array)
            data = {"encoding": "binary", "binary_data_size": view.nbytes,
                    "binary_data_offset": offset}
            offset += view.nbytes
            buffers.append(view)
            return array_object(array, data)
    else:
        raise ValueError(f"unknown array form {form!r}; one of {FORMS}")
    return _walk(tree, leaf), buffers


def placeholder(index: int) -> str:
    return f"{PLACEHOLDER}{index}"


_ARRAYS = (np.ndarray, np.generic)
_SEQUENCES = (tuple, list)


def _walk(value: Any, leaf: Callable[[np.ndarray], Any]) -> Any:
    if isinstance(value, dict):
        return {key: _walk(item, leaf) for key, item in value.items()}
    if isinstance(value, _ARRAYS):
        array = np.asarray(value)
        if array.dtype.kind in "iuf":
            return leaf(array)
        return _walk(array.tolist(), leaf)  # numpy strings (names in wrt) and booleans
    if isinstance(value, _SEQUENCES):
        return [_walk(item, leaf) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return _spell(value)
    return value  # str, int, finite float, bool, None: plain JSON


def array_object(array: np.ndarray, data: dict[str, Any]) -> dict[str, Any]:
    return {"object_type": "array", "shape": list(array.shape),
            "dtype": _little(array).dtype.name, "data": data}


def as_list(array: np.ndarray, native: bool) -> Any:
    """The list form: numbers, with the three strings where floats are not finite."""
    if array.ndim == 0:
        return _spell_any(array.item())
    if array.ndim == 1 and array.size <= SMALL and array.dtype.kind == "f":
        values = array.tolist()  # a few numbers: checked in Python, quicker than a ufunc
        return values if all(map(math.isfinite, values)) else [_spell_any(v) for v in values]
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        out = array.astype(object)
        out[np.isnan(array)] = "NaN"
        out[array == np.inf] = "Infinity"
        out[array == -np.inf] = "-Infinity"
        return out.tolist()
    return np.ascontiguousarray(_little(array)) if native else array.tolist()


_LITTLE = ("<", "|", "=") if sys.byteorder == "little" else ("<", "|")


def _list_for_orjson(array: np.ndarray) -> Any:
    return as_list(array, True)


def _list_for_stdlib(array: np.ndarray) -> Any:
    return as_list(array, False)


def _little(array: np.ndarray) -> np.ndarray:
    if array.dtype.byteorder in _LITTLE:
        return array
    return array.astype(array.dtype.newbyteorder("<"))


def _bytes_of(array: np.ndarray) -> memoryview:
    """The little-endian C-order bytes, without a copy when the array already is so."""
    if array.dtype.kind not in "biuf":
        raise TypeError(f"arrays of dtype {array.dtype} do not go on the wire")
    return memoryview(np.ascontiguousarray(_little(array)).reshape(-1).view(np.uint8))


def _spell_any(number: float) -> float | str:  # ints and bools pass through
    return number if math.isfinite(number) else _spell(number)


def _spell(number: float) -> str:
    if math.isnan(number):
        return "NaN"
    return "Infinity" if number > 0 else "-Infinity"


# ---------------------------------------------------------------- wire -> numpy

def is_array_object(value: Any) -> bool:
    return type(value) is dict and "object_type" in value


def decode_array(obj: dict[str, Any], where: str, *, max_elements: int,
                 source: BinarySource | None,
                 from_list: Callable[[Any, str], np.ndarray]) -> np.ndarray:
    """One array object -> an ndarray of its declared dtype and shape. Everything that can
    be checked is checked before any decoding or allocation: the keys, the shape (against
    `max_elements`), the dtype, and the buffer's length (against shape times item size)."""
    if set(obj) != ARRAY_KEYS or obj["object_type"] != "array":
        raise WireError(f"{where} is an object but not an array object: it needs exactly "
                        "'object_type': 'array', 'shape', 'dtype' and 'data'")
    shape = _shape(obj["shape"], where)
    count = math.prod(shape)
    if max([count, *shape]) > max_elements:  # an axis alone too: numpy refuses (0, 2^60)
        raise WireError(f"{where} declares shape {list(shape)}, over the limit max_array_"
                        f"elements = {max_elements}", "limit", "max_array_elements",
                        max_elements)
    dtype = _dtype(obj["dtype"], where)
    data = obj["data"]
    encoding = data.get("encoding") if type(data) is dict else None
    if encoding not in DATA_KEYS or not REQUIRED_KEYS[encoding] <= set(data) <= DATA_KEYS[
            encoding]:
        raise WireError(f"{where}: 'data' must be {{'encoding': 'base64' or 'json', "
                        "'buffer': ...} or {'encoding': 'binary', 'binary_data_size': n}")
    nbytes = count * dtype.itemsize
    if encoding == "json":
        values = from_list(data["buffer"], f"{where}: its buffer")
        if values.size != count:
            raise WireError(f"{where}: its buffer holds {values.size} numbers, but its shape "
                            f"{shape} needs {count}")
        return _cast_exactly(values, dtype, where).reshape(shape)
    if encoding == "base64":
        raw: np.ndarray | memoryview = _base64(data["buffer"], nbytes, shape, dtype, where)
    else:
        raw = _binary(data, nbytes, shape, dtype, where, source)
    return np.frombuffer(raw, dtype=dtype, count=count).reshape(shape)


def _shape(shape: Any, where: str) -> tuple[int, ...]:
    if type(shape) is not list or len(shape) > MAX_NDIM or not all(
            type(n) is int and n >= 0 for n in shape):
        raise WireError(f"{where}: its shape must be a list of at most {MAX_NDIM} non-negative "
                        f"integers, not {str(shape)[:60]}")
    return tuple(shape)


def _dtype(name: Any, where: str) -> np.dtype:
    if type(name) is str and name in DTYPES:
        return DTYPES[name]
    shown = str(name)[:40]
    why = ("buffers are little-endian: send the bytes swapped, with the plain dtype name"
           if type(name) is str and (name.startswith(">") or "big" in name.lower())
           else "only real numbers go in")
    raise WireError(f"{where} has dtype {shown!r}; {why}: one of {', '.join(DTYPES)}")


def _base64(text: Any, nbytes: int, shape: tuple[int, ...], dtype: np.dtype,
            where: str) -> np.ndarray:
    """Decoded piece by piece into the array's own memory (bytes, not yet typed); `text` is
    a str, or a view of the body's bytes (`framing.set_aside_base64`)."""
    expected = 4 * -(-nbytes // 3)
    if type(text) not in (str, memoryview):  # a view: set aside from the body, unparsed
        raise WireError(f"{where}: its base64 buffer must be a string")
    if len(text) != expected:
        raise WireError(f"{where}: its base64 buffer has {len(text)} characters, but shape "
                        f"{list(shape)} of {dtype.name} is {nbytes} bytes: {expected} "
                        "characters (standard alphabet, '=' padding)")
    out = np.empty(nbytes, np.uint8)  # writable; not zeroed first: every byte is written
    view, end = memoryview(out), 0
    try:
        for start in range(0, len(text), BASE64_PIECE):
            piece = _b64decode(text[start:start + BASE64_PIECE])
            if end + len(piece) > nbytes or (len(piece) != BASE64_PIECE // 4 * 3
                                              and end + len(piece) != nbytes):
                end += len(piece)
                break  # padding before the end, or missing at the end: caught below
            view[end:end + len(piece)] = piece
            end += len(piece)
    except (binascii.Error, ValueError):
        raise WireError(f"{where}: its buffer is not valid base64 (standard alphabet A-Z a-z "
                        "0-9 + /, '=' padding, no whitespace)") from None
    if end != nbytes:
        raise WireError(f"{where}: its base64 buffer decodes to {end} bytes, but shape "
                        f"{list(shape)} of {dtype.name} is {nbytes} bytes")
    return out


def _binary(data: dict[str, Any], nbytes: int, shape: tuple[int, ...], dtype: np.dtype,
            where: str, source: BinarySource | None) -> memoryview:
    if source is None:
        raise WireError(f"{where} is a binary array, but the body is not framed binary: send "
                        "Content-Type application/octet-stream and Inference-Header-Content-"
                        "Length")
    if data["binary_data_size"] != nbytes:
        raise WireError(f"{where}: its binary_data_size is {data['binary_data_size']}, but shape "
                        f"{list(shape)} of {dtype.name} is {nbytes} bytes")
    return source.take(data, nbytes, where)


def _cast_exactly(values: np.ndarray, dtype: np.dtype, where: str) -> np.ndarray:
    """A json buffer's numbers as the declared dtype: integers must be integers in range."""
    if dtype.kind == "f":
        with np.errstate(over="ignore"):
            out = values.astype(dtype)
        if np.isinf(out).sum() != np.isinf(values).sum():
            raise WireError(f"{where} holds numbers too large for {dtype.name}")
        return out
    info = np.iinfo(dtype)
    if not (np.isfinite(values).all() and (values == np.round(values)).all()
            and (values >= info.min).all() and (values <= info.max).all()):
        raise WireError(f"{where} declares dtype {dtype.name} but holds numbers that are "
                        f"not integers in [{info.min}, {info.max}]")
    return values.astype(dtype)


def decode(value: Any, source: BinarySource | None = None) -> Any:
    """Client side: an answer's results back to numpy. Array objects keep their dtype
    (int64 indices stay integers); lists become float64 arrays; the three non-finite
    strings become 0-d arrays; other strings (a derived program's text) stay strings."""
    if isinstance(value, dict):
        if is_array_object(value):
            array = decode_array(value, "a result", max_elements=2**63, source=source,
                                 from_list=_plain_list)
            return array if array.flags.writeable else array.copy()  # arrays users can edit
        return {key: decode(item, source) for key, item in value.items()}
    if type(value) is str:
        return np.array(NON_FINITE[value]) if value in NON_FINITE else value
    return _plain_list(value, "a result")


def _plain_list(value: Any, where: str) -> np.ndarray:
    try:
        return np.array(value, dtype=np.float64)
    except (ValueError, TypeError):
        raise WireError(f"{where} is not an array of numbers") from None
