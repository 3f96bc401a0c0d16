"""numpy <-> JSON for responses, and for the client's requests (no adcore import here, so
the client stays light).

Finite arrays go to orjson as ndarrays (its native, fast path: ~4 ms for 100,000 doubles);
arrays holding NaN or infinities become lists with the strings "NaN", "Infinity",
"-Infinity", which costs a copy only when they occur. Responses are always valid JSON.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson

NON_FINITE = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}
_DUMPS_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def jsonable(value: Any) -> Any:
    """Results (dicts of arrays) into something orjson writes as valid JSON. Plain leaves
    (strings, Python ints, tuples of them such as a COO shape) stay plain; integer arrays
    (COO indices) stay integers."""
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, np.ndarray) and value.dtype.kind in "iu":
        return np.ascontiguousarray(value)
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 0:
        number = float(array)
        return number if np.isfinite(number) else _spell(number)
    if np.isfinite(array).all():
        return np.ascontiguousarray(array)
    out = array.astype(object)
    out[np.isnan(array)] = "NaN"
    out[array == np.inf] = "Infinity"
    out[array == -np.inf] = "-Infinity"
    return out.tolist()


def _spell(number: float) -> str:
    if math.isnan(number):
        return "NaN"
    return "Infinity" if number > 0 else "-Infinity"


def dumps(content: Any) -> bytes:
    return orjson.dumps(content, option=_DUMPS_OPTIONS)


def decode(value: Any) -> Any:
    """Client side: results (dicts of JSON arrays, with the non-finite strings) to float64
    arrays; numpy itself parses the three strings inside lists."""
    if isinstance(value, dict):
        return {key: decode(item) for key, item in value.items()}
    if type(value) is str:
        return np.array(NON_FINITE[value])
    return np.array(value, dtype=np.float64)
