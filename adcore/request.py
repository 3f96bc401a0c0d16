"""Validation of a request against a program (SPEC §3): inputs, `wrt`, `batch`, `v`, `u`.
Every mismatch is a `request` error naming the input at fault."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import RequestError
from .ir import ArrayType, Function

MODES = ("auto", "forward", "reverse")
TRIANGLES = ("both", "lower")
PATTERNS = ("jacobian", "hessian")  # what `sparsity` can describe (`of`)


def to_array(value: Any, where: str) -> np.ndarray:
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):
        raise RequestError(f"{where} is ragged: its rows have different lengths") from None
    if array.dtype == object:
        raise RequestError(f"{where} is ragged or holds something other than numbers")
    if array.dtype.kind not in "biuf":
        raise RequestError(f"{where} must hold numbers, not {array.dtype}")
    return np.asarray(array, dtype=np.float64)  # no copy when it is float64 already


@dataclass
class Request:
    operation: str
    inputs: tuple[str, ...]
    arrays: dict[str, np.ndarray]
    wrt: tuple[str, ...]
    batch: tuple[str, ...]
    size: int | None
    types: tuple[ArrayType, ...]  # per input, without the batch axis
    v: dict[str, np.ndarray] | None = None
    u: Any = None
    mode: str = "auto"
    diagonal: bool = False
    v_batched: dict[str, bool] = field(default_factory=dict)
    u_batched: bool = False
    sparse: bool = False
    triangle: str = "both"
    of: str | None = None  # sparsity: "jacobian" or "hessian"

    @property
    def wrt_indices(self) -> list[int]:
        return [self.inputs.index(n) for n in self.wrt]

    def wrt_types(self) -> list[ArrayType]:
        return [self.types[i] for i in self.wrt_indices]

    def signature(self) -> tuple:
        return (self.operation, self.types, self.batch, self.size, self.wrt,
                self.mode if "jacobian" in (self.operation, self.of) else None,
                self.diagonal if self.operation == "hessian" else None,
                tuple(sorted(self.v_batched.items())), self.u_batched, self.sparse,
                self.triangle, self.of)

    def batched_flags(self, extras: Sequence[str]) -> list[bool]:
        flags = [name in self.batch for name in self.inputs]
        for extra in extras:
            if extra.startswith("v:"):
                flags.append(self.v_batched[extra[2:]])
            else:
                flags.append(self.u_batched if extra == "u" else False)
        return flags

    def arguments(self, extras: Sequence[str]) -> list[np.ndarray]:
        args = [self.arrays[name] for name in self.inputs]
        for extra in extras:
            if extra.startswith("v:"):
                assert self.v is not None
                args.append(self.v[extra[2:]])
            elif extra == "u":
                args.append(self.u)
        return args

    def check_outputs(self, fn: Function) -> None:
        """`u` is checked once the output shape is known."""
        if self.operation != "vjp":
            return
        if self.u is None:
            raise RequestError("vjp needs 'u', a cotangent shaped like the result")
        self.u = to_array(self.u, "u")
        self.u_batched = self._per_point("u", self.u, fn.outputs[0].type.shape)

    def _per_point(self, where: str, array: np.ndarray, shape: tuple[int, ...]) -> bool:
        if array.shape == shape:
            return False
        if self.size is not None and array.shape == (self.size,) + shape:
            return True
        batched = f" or {(self.size,) + shape} (one per point)" if self.size is not None else ""
        raise RequestError(f"{where} has shape {array.shape}; expected {shape}{batched}")


def _names(given: Sequence[str] | None, inputs: tuple[str, ...], what: str) -> tuple[str, ...]:
    if isinstance(given, str):
        given = [given]
    names = tuple(dict.fromkeys(given or ()))
    for name in names:
        if name not in inputs:
            known = ", ".join(inputs) or "none"
            raise RequestError(f"'{name}' in {what} is not an input of the program "
                               f"(inputs: {known})")
    return names


def _in_input_order(names: tuple[str, ...], inputs: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(name for name in inputs if name in names)


def prepare(inputs: tuple[str, ...], operation: str, at: Mapping[str, Any],
            wrt: Sequence[str] | None, batch: Sequence[str] | None, v: Mapping[str, Any] | None,
            u: Any, mode: str, diagonal: bool, *, sparse: bool = False, triangle: str = "both",
            of: str | None = None) -> Request:
    known = ", ".join(inputs) or "none"
    for name in at:
        if name not in inputs:
            raise RequestError(f"'{name}' is not an input of the program (inputs: {known})")
    for name in inputs:
        if name not in at:
            raise RequestError(f"missing input '{name}' (inputs: {known})")
    if not isinstance(diagonal, bool):
        raise RequestError(f"diagonal must be true or false, not {diagonal!r}")
    if mode not in MODES:
        raise RequestError(f"mode must be one of {', '.join(MODES)}, not '{mode}'")
    arrays = {name: to_array(at[name], f"input '{name}'") for name in inputs}
    batch_names = _in_input_order(_names(batch, inputs, "batch"), inputs)
    size = None
    for name in batch_names:
        shape = arrays[name].shape
        if not shape:
            raise RequestError(f"batched input '{name}' needs a leading batch axis")
        if size is not None and shape[0] != size:
            raise RequestError(f"batch lengths disagree: '{name}' has {shape[0]} points, "
                               f"others have {size}")
        size = shape[0]
    types = tuple(ArrayType(arrays[n].shape[1:] if n in batch_names else arrays[n].shape)
                  for n in inputs)
    # Canonical order (the inputs'): results are keyed by name, so the order in which `wrt`
    # lists names must not matter, and one kernel serves every spelling of the same set.
    wrt_names = inputs if wrt is None else _in_input_order(_names(wrt, inputs, "wrt"), inputs)
    if operation != "evaluate" and not wrt_names:
        raise RequestError("there is nothing to differentiate: " + (
            "wrt is empty" if inputs else "the program has no inputs"),
            hint="name at least one input in wrt")
    request = Request(operation, inputs, arrays, wrt_names, batch_names, size, types,
                      mode=mode, diagonal=bool(diagonal), u=u)
    _sparse_options(request, sparse, triangle, of)
    if operation in ("hvp", "jvp"):
        request.v = _directions(request, v)
    return request


def _sparse_options(request: Request, sparse: Any, triangle: Any, of: Any) -> None:
    """`sparse` and `triangle` on jacobian and hessian, `of` on sparsity (SPEC §3)."""
    operation = request.operation
    if not isinstance(sparse, bool):
        raise RequestError(f"sparse must be true or false, not {sparse!r}")
    if sparse and operation not in PATTERNS:
        raise RequestError(f"sparse applies to jacobian and hessian, not {operation}",
                           hint="use POST /v1/jacobian or /v1/hessian with sparse: true")
    if sparse and request.diagonal:
        raise RequestError("diagonal and sparse exclude each other",
                           hint="a sparse Hessian already holds its diagonal")
    if operation == "sparsity":
        if of not in PATTERNS:
            raise RequestError(f"sparsity needs 'of': 'jacobian' or 'hessian', not {of!r}")
    elif of is not None:
        raise RequestError(f"'of' applies to sparsity, not {operation}")
    if triangle not in TRIANGLES:
        raise RequestError(f"triangle must be 'both' or 'lower', not {triangle!r}")
    hessian = (operation == "hessian" and sparse) or of == "hessian"
    if triangle == "lower" and not hessian:
        raise RequestError("triangle: 'lower' applies to sparse Hessians",
                           hint="add sparse: true to a hessian request")
    request.sparse, request.triangle, request.of = sparse, triangle, of


def _directions(request: Request, v: Mapping[str, Any] | None) -> dict[str, np.ndarray]:
    v = v or {}
    if not isinstance(v, Mapping):
        raise RequestError("v must map input names to directions, like {'x': [...]}")
    for name in v:
        if name not in request.wrt:
            raise RequestError(f"v has an entry for '{name}', which is not differentiated "
                               f"(wrt: {', '.join(request.wrt)})")
    directions = {}
    for name, t in zip(request.inputs, request.types):
        if name in request.wrt:
            if name not in v:
                raise RequestError(f"{request.operation} needs a direction v['{name}']")
            array = to_array(v[name], f"v['{name}']")
            request.v_batched[name] = request._per_point(f"v['{name}']", array, t.shape)
            directions[name] = array
    return directions
