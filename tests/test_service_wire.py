"""Arrays on the wire (issue 9): base64 and json array objects, framed binary bodies, the
encoder's contract for any result tree, and the choice of form. Expectations come from
bytes built here with `struct` and the standard library's base64, and from closed forms."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from service import framing
from service.client import Client
from service.encoding import WireError, decode, decode_array, encode

GRAD_SQUARES = "sum(x^2)"  # gradient 2x: a closed form for every check below


def b64_object(values: list[float], fmt: str, dtype: str, shape: list[int]) -> dict[str, Any]:
    numbers = values if fmt in "df" else [int(v) for v in values]
    raw = struct.pack("<" + fmt * len(values), *numbers)
    return {"object_type": "array", "shape": shape, "dtype": dtype,
            "data": {"buffer": base64.b64encode(raw).decode(), "encoding": "base64"}}


def binary_ref(size: int, shape: list[int], dtype: str = "float64", **extra: Any
               ) -> dict[str, Any]:
    return {"object_type": "array", "shape": shape, "dtype": dtype,
            "data": {"encoding": "binary", "binary_data_size": size, **extra}}


def framed(header: dict[str, Any], payload: bytes, pad: bool = True) -> tuple[bytes, dict]:
    text = json.dumps(header).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return text + payload, {"content-type": "application/octet-stream",
                            "inference-header-content-length": str(len(text))}


def read_framed(content: bytes, headers: Any) -> tuple[dict[str, Any], bytes]:
    length = int(headers["inference-header-content-length"])
    return json.loads(content[:length]), content[length:]


def on_the_wire(tree: Any, form: str) -> tuple[Any, framing.Payload | None]:
    """An encoded tree as a reader gets it: the body assembled as the server and the client
    write it, then parsed by the standard library's json (and framed, for binary)."""
    encoded, buffers = encode(tree, form)
    parts, length = framing.assemble(json.dumps(encoded).encode(), form, buffers)
    body = b"".join(parts)
    if length is None:
        return json.loads(body), None
    wire = json.loads(body[:length])
    return wire, framing.Payload(wire, memoryview(body)[length:])


# ---- requests in every form, through the app ----

@pytest.mark.parametrize(("fmt", "dtype"), [("d", "float64"), ("f", "float32"),
                                            ("q", "int64"), ("i", "int32"), ("B", "uint8"),
                                            ("h", "int16")])
def test_base64_inputs_of_every_dtype_are_read_as_float64(api: Any, fmt: str, dtype: str
                                                          ) -> None:
    values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    x = b64_object(values, fmt, dtype, [2, 3])
    body = api.post("/v1/gradient", json={"program": GRAD_SQUARES, "at": {"x": x}}).json()
    assert body["value"] == sum(v * v for v in values)
    assert body["gradient"]["x"] == [[2.0, 4.0, 6.0], [8.0, 10.0, 12.0]]


def test_json_buffers_flat_or_nested(api: Any) -> None:
    for buffer in ([1, 2, 3, 4], [[1, 2], [3, 4]], [1.5, "NaN", 3, 4]):
        x = {"object_type": "array", "shape": [2, 2], "dtype": "float64",
             "data": {"buffer": buffer, "encoding": "json"}}
        body = api.post("/v1/evaluate", json={"program": "x * 2", "at": {"x": x}})
        assert body.status_code == 200, body.text
        expected = (np.array(buffer, dtype=float) * 2).reshape(2, 2)
        np.testing.assert_array_equal(decode(body.json()["value"]), expected)


def test_float32_json_buffers_are_rounded_to_float32(api: Any) -> None:
    x = {"object_type": "array", "shape": [1], "dtype": "float32",
         "data": {"buffer": [0.1], "encoding": "json"}}
    value = api.post("/v1/evaluate", json={"program": "x", "at": {"x": x}}).json()["value"]
    assert value == [float(np.float32(0.1))] != [0.1]


def test_v_and_u_take_encoded_arrays_too(api: Any) -> None:
    v = b64_object([1.0, 0.0, 2.0], "d", "float64", [3])
    hvp = api.post("/v1/hvp", json={"program": GRAD_SQUARES, "at": {"x": [1.0, 2.0, 3.0]},
                                    "v": {"x": v}}).json()
    assert hvp["hvp"]["x"] == [2.0, 0.0, 4.0]  # H = 2I
    u = b64_object([1.0, -1.0], "f", "float32", [2])
    vjp = api.post("/v1/vjp", json={"program": "x * 3", "at": {"x": [5.0, 6.0]},
                                    "u": u}).json()
    assert vjp["vjp"]["x"] == [3.0, -3.0]


def test_binary_request_and_binary_answer(api: Any) -> None:
    flat = [1.0, 2.0, 3.0, -4.0, 0.5, 0.25]  # three points of two
    payload = struct.pack("<6d", *flat)
    header = {"program": GRAD_SQUARES, "batch": ["x"], "arrays": "binary",
              "at": {"x": binary_ref(48, [3, 2])}}
    content, headers = framed(header, payload)
    response = api.post("/v1/gradient", content=content, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    answer, rest = read_framed(response.content, response.headers)
    assert int(response.headers["inference-header-content-length"]) % 8 == 0
    refs = {"value": answer["value"], "x": answer["gradient"]["x"]}
    assert refs["value"]["shape"] == [3] and refs["x"]["shape"] == [3, 2]
    assert refs["value"]["data"] == {"encoding": "binary", "binary_data_size": 24,
                                     "binary_data_offset": 0}
    assert refs["x"]["data"]["binary_data_offset"] == 24
    assert struct.unpack("<3d", rest[:24]) == (5.0, 25.0, 0.3125)
    assert struct.unpack("<6d", rest[24:]) == tuple(2 * v for v in flat)


def test_binary_bodies_in_document_order_with_offsets_and_an_unpadded_header(api: Any
                                                                            ) -> None:
    # v comes first in the text, so its bytes come first; the header is not padded, so the
    # server reads unaligned arrays (by copying them).
    header = {"program": "sum(x * y)", "v": {"x": binary_ref(16, [2], binary_data_offset=0)},
              "at": {"y": binary_ref(2, [2], "uint8", binary_data_offset=16),
                     "x": binary_ref(8, [2], "float32")}, "wrt": ["x"]}
    payload = struct.pack("<2d", 1.0, 10.0) + bytes([3, 4]) + struct.pack("<2f", 0.5, 0.25)
    for pad in (True, False):
        content, headers = framed(header, payload, pad)
        answer = api.post("/v1/jvp", content=content, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["jvp"] == 3.0 * 1.0 + 4.0 * 10.0  # d(x.y) along v = y.v


def test_accept_or_the_arrays_field_choose_the_answer(api: Any) -> None:
    body = {"program": "x / 0", "at": {"x": [1.0, -1.0, 0.0]}}
    for fast in (False, True):  # the second round is cached: answered by the fast lane
        listed = api.post("/v1/evaluate", json=body)
        assert listed.json()["value"] == ["Infinity", "-Infinity", "NaN"]
        b64 = api.post("/v1/evaluate", json=body,
                       headers={"accept": "application/json+base64"}).json()["value"]
        raw = base64.b64decode(b64["data"]["buffer"])
        assert b64["dtype"] == "float64" and b64["shape"] == [3]
        assert struct.unpack("<3d", raw)[:2] == (float("inf"), float("-inf"))
        assert np.isnan(struct.unpack("<3d", raw)[2])
        field = api.post("/v1/evaluate", json={**body, "arrays": "base64"},
                         headers={"accept": "application/octet-stream"})
        assert field.headers["content-type"] == "application/json"  # the field wins
        binary = api.post("/v1/evaluate", json=body, headers={"accept": "application/json;"
                                                              "q=0.5, application/octet-stream"})
        assert binary.headers["content-type"] == "application/octet-stream", fast


@pytest.mark.parametrize(("accept", "form"), [
    ("", "list"), ("*/*", "list"), ("application/json", "list"),
    ("application/json+base64", "base64"), ("Application/JSON+Base64; q=1", "base64"),
    ("application/json, application/octet-stream", "list"),
    ("application/json;q=0.9, application/octet-stream", "binary"),
    ("application/octet-stream;q=0, application/json+base64;q=0.1", "base64"),
    ("application/octet-stream;q=abc", "list"), ("text/html", "list"),
])
def test_accept_negotiation(accept: str, form: str) -> None:
    assert framing.requested_form(accept, None) == form
    assert framing.requested_form(accept, "binary") == "binary"


# ---- the encoder's contract: any tree, any numeric dtype ----

def test_sparse_blocks_travel_in_every_form() -> None:
    """Issue 10's COO blocks: int64 index arrays and float64 data are arrays on the wire;
    the shape tuple and the format string stay plain JSON."""
    block = {"format": "coo", "shape": (3, 4), "row": np.array([0, 2, 2], dtype=np.int64),
             "col": np.array([1, 0, 3], dtype=np.int64),
             "data": np.array([[1.5, -2.0, np.inf], [0.0, 1.0, 2.0]])}
    result = {"value": np.float64(2.0), "jacobian": {"x": block}, "colors": 3,
              "mode": "forward"}
    listed, _ = encode(result, "list")
    assert listed == {"value": 2.0, "colors": 3, "mode": "forward", "jacobian": {"x": {
        "format": "coo", "shape": [3, 4], "row": [0, 2, 2], "col": [1, 0, 3],
        "data": [[1.5, -2.0, "Infinity"], [0.0, 1.0, 2.0]]}}}
    for form in ("base64", "binary"):
        wire, payload = on_the_wire(result, form)
        coo = wire["jacobian"]["x"]
        assert (coo["format"], coo["shape"]) == ("coo", [3, 4])
        assert (coo["row"]["dtype"], coo["data"]["dtype"]) == ("int64", "float64")
        assert wire["value"]["shape"] == []
        back = decode(wire, payload)
        assert back["jacobian"]["x"]["row"].dtype == np.int64
        np.testing.assert_array_equal(back["jacobian"]["x"]["col"], [1, 0, 3])
        np.testing.assert_array_equal(back["jacobian"]["x"]["data"], block["data"])
        assert back["mode"] == "forward" and back["value"] == 2.0


finite_or_not = st.floats(allow_nan=True, allow_infinity=True, width=64)


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(st.sampled_from([np.float64, np.float32, np.int64, np.int8, np.uint16]),
                  hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)),
       st.sampled_from(["base64", "binary"]))
def test_encoded_arrays_round_trip(array: np.ndarray, form: str) -> None:
    wire, source = on_the_wire({"a": array}, form)
    back = decode_array(wire["a"], "a", max_elements=10**6, source=source,
                        from_list=lambda v, w: np.array(v))
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=3, max_side=4),
                  elements=finite_or_not))
def test_lists_spell_non_finite_values(array: np.ndarray) -> None:
    for native in (False, True):
        tree, _ = encode({"a": array}, "list", native)
        text = json.dumps(tree, default=lambda a: a.tolist(), allow_nan=False)
        np.testing.assert_array_equal(decode(json.loads(text))["a"], array)


# ---- checks happen before anything is decoded or allocated ----

@pytest.mark.parametrize(("obj", "needle"), [
    (b64_object([1.0], "d", "float64", [2**40, 2**30]), "max_array_elements"),
    ({**b64_object([1.0], "d", "float64", [2**20]), "shape": [2**20]}, "characters"),
    (binary_ref(2**50, [2**47]), "announce"),
])
def test_huge_declared_shapes_are_refused_before_allocating(obj: dict, needle: str) -> None:
    # A limit of 2^62 elements: only the length checks stand between these and terabytes.
    with pytest.raises(WireError, match=needle):
        decode_array(obj, "x", max_elements=2**62, source=None if "buffer" in obj["data"]
                     else framing.Payload({"x": obj}, memoryview(b"")), from_list=np.array)


def test_framing_is_checked_before_arrays() -> None:
    with pytest.raises(WireError, match="announce 16 bytes, but 8"):
        framing.Payload({"at": {"x": binary_ref(16, [2])}}, memoryview(bytes(8)))
    with pytest.raises(WireError, match="belongs to no array"):
        framing.Payload({"at": {"x": binary_ref(8, [1])}}, memoryview(bytes(16)))
    with pytest.raises(WireError, match="binary_data_offset"):
        framing.Payload({"at": {"x": binary_ref(8, [1], binary_data_offset=8)}},
                        memoryview(bytes(8)))
    with pytest.raises(WireError, match="past the end"):
        framing.header_length("100", 99)
    # "²".isdigit(), but int("²") fails; h11 will not even send " 12" (leading space)
    for value in ("\u00b2", "\u0661", "-1", "1e3", "", " 12"):
        with pytest.raises(WireError, match="a length in bytes"):
            framing.header_length(value, None)


# ---- the client in every form ----

@pytest.mark.parametrize("arrays", ["list", "base64", "binary", "auto"])
def test_client_in_every_form(service_app: Any, arrays: str) -> None:
    from fastapi.testclient import TestClient

    points = np.random.default_rng(3).standard_normal((50, 7))
    with TestClient(service_app()) as http:
        nabla = Client("http://testserver", http, arrays=arrays, binary_from_bytes=1024)
        result = nabla.gradient(GRAD_SQUARES, at={"x": points}, batch=["x"])
        np.testing.assert_array_equal(result["gradient"]["x"], 2 * points)
        np.testing.assert_array_equal(result["value"], (points**2).sum(axis=1))
        assert result["gradient"]["x"].flags.writeable
        small = nabla.evaluate("x / y", at={"x": np.array([1.0, np.nan]),
                                            "y": np.float32(0.0)})["value"]
        assert np.isposinf(small[0]) and np.isnan(small[1])
        hvp = nabla.hvp(GRAD_SQUARES, at={"x": points[0]}, v={"x": points[1]})["hvp"]["x"]
        np.testing.assert_array_equal(hvp, 2 * points[1])


def test_base64_is_decoded_piece_by_piece(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small pieces, so that every boundary case shows: padding inside the text (at the end
    of a piece) is refused, a good buffer decodes whole and writable."""
    from service import encoding

    monkeypatch.setattr(encoding, "BASE64_PIECE", 8)
    values = [0.5, -1.25, 3.0]
    good = b64_object(values, "d", "float64", [3])
    array = decode_array(good, "x", max_elements=10, source=None, from_list=np.array)
    assert array.tolist() == values and array.flags.writeable
    text = good["data"]["buffer"]
    for at in (8, 16):  # "==" closing a piece that is not the last
        bad = {**good, "data": {"buffer": text[:at - 2] + "==" + text[at:], "encoding": "base64"}}
        with pytest.raises(WireError, match="base64"):
            decode_array(bad, "x", max_elements=10, source=None, from_list=np.array)


def test_long_base64_buffers_are_read_in_place(api: Any) -> None:
    """Past 64 KiB a buffer is set aside before parsing and decoded from the body itself;
    the answer is the same as for the parsed string (closed form: gradient 2x)."""
    x = np.random.default_rng(7).standard_normal((100, 120))  # 96,000 bytes: 128,000 chars
    wire = {"object_type": "array", "shape": [100, 120], "dtype": "float64",
            "data": {"buffer": base64.b64encode(x.tobytes()).decode(), "encoding": "base64"}}
    tricky = 'x # "buffer":"' + "A" * 70_000  # the key pattern, escaped, in a string
    body = {"program": "sum(x^2)", "batch": ["x"], "at": {"x": wire}, "arrays": "base64",
            "wrt": ["x"], "mode": "auto"}
    answer = api.post("/v1/gradient", json=body).json()
    raw = base64.b64decode(answer["gradient"]["x"]["data"]["buffer"])
    np.testing.assert_array_equal(np.frombuffer(raw).reshape(100, 120), 2 * x)
    refused = api.post("/v1/gradient", json={**body, "program": tricky + "\nsum(x^2)"})
    assert refused.json()["kind"] == "limit"  # the program's own limit: its text intact
    client = Client("http://testserver", api, arrays="base64")  # the client reads in place too
    np.testing.assert_array_equal(
        client.gradient("sum(x^2)", at={"x": x}, batch=["x"])["gradient"]["x"], 2 * x)
