"""JSON <-> numpy at the edge: strict numbers in (no silent coercion), valid JSON out."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from adcore.errors import RequestError
from service.convert import BOOLEAN_LOOKS, FAST_PATH_ROWS, reply, to_array
from service.encoding import MAX_NDIM, decode


@pytest.mark.parametrize(("value", "expected"), [
    (3, 3.0), (2.5, 2.5), ("NaN", np.nan), ("Infinity", np.inf), ("-Infinity", -np.inf),
    ([1, 2, 3], [1.0, 2.0, 3.0]), ([[0, 1], [1, 0]], [[0.0, 1.0], [1.0, 0.0]]),
    ([0.5, "NaN", "-Infinity"], [0.5, np.nan, -np.inf]), ([], []), ([[]], [[]]),
    ([2**70, 1.0], [2.0**70, 1.0]), ([0.0] * 1000, [0.0] * 1000),
    ([[1, 2]] * 100, [[1.0, 2.0]] * 100), ([2**70] * 100, [2.0**70] * 100),
    ([1.5] * 99 + ["NaN"], [1.5] * 99 + [np.nan]),
])
def test_numbers_and_the_three_strings(value: Any, expected: Any) -> None:
    array = to_array(value, "x")
    assert array.dtype == np.float64
    np.testing.assert_array_equal(array, np.array(expected, dtype=float))


def with_leaf(shape: tuple[int, ...], leaf: Any, fill: float, position: int) -> Any:
    flat: list[Any] = [fill] * int(np.prod(shape))
    flat[position] = leaf
    return np.array(flat, dtype=object).reshape(shape).tolist()


@pytest.mark.parametrize("fill", [0.0, 1.0, 0.5])
@pytest.mark.parametrize("leaf", [True, False])
@pytest.mark.parametrize("count", [3, FAST_PATH_ROWS, BOOLEAN_LOOKS * 4])
def test_a_boolean_hidden_among_numbers_is_found(fill: float, leaf: bool, count: int) -> None:
    for position in (0, count - 1, count // 2):
        with pytest.raises(RequestError, match="boolean"):
            to_array(with_leaf((count,), leaf, fill, position), "x")
        with pytest.raises(RequestError, match="boolean"):
            to_array(with_leaf((count, 2), leaf, fill, position), "x")
        with pytest.raises(RequestError, match="boolean"):
            to_array(with_leaf((2, count), leaf, fill, position), "x")


@pytest.mark.parametrize(("value", "needle"), [
    (True, "boolean"), (None, "null"), ({"a": 1}, "object"), ("1", "'1'"),
    ("nan", "'nan'"), ("inf", "'inf'"), ([1, "2"], "'2'"), ([[1], [2, 3]], "ragged"),
    ([[1], 2], "ragged"), ([1, None], "null"), ([[1, {}]], "object"), ([[1, [2]]], "ragged"),
    ([[1.0]] * 99 + [[1.0, 2.0]], "ragged"), ([1.5] * 99 + ["1"], "'1'"),
    ([1.5] * 99 + [None], "null"), ([[1.5]] * 99 + [1.5], "ragged"),
])
def test_everything_else_is_refused(value: Any, needle: str) -> None:
    with pytest.raises(RequestError, match=needle):
        to_array(value, "input 'x'")


def test_depth_is_bounded() -> None:
    value: Any = 1.0
    for _ in range(MAX_NDIM + 1):
        value = [value]
    with pytest.raises(RequestError, match="dimensions"):
        to_array(value, "x")


def test_results_encode_non_finite_as_strings() -> None:
    results = {"value": np.float64("nan"), "gradient": {
        "x": np.array([[1.0, np.inf], [-np.inf, 2.0]]), "y": np.arange(3.0)[::-1]}}
    text = reply(results, "list", id="abc", meta={}).content.decode()
    assert json.loads(text) == {"id": "abc", "meta": {}, "value": "NaN", "gradient": {
        "x": [[1.0, "Infinity"], ["-Infinity", 2.0]], "y": [2.0, 1.0, 0.0]}}
    back = decode(json.loads(text))
    assert np.isnan(back["value"])
    np.testing.assert_array_equal(back["gradient"]["x"], results["gradient"]["x"])
