"""`derive` (SPEC §3): a derivative as programs in the language, one per result array.

The IR is the operation's own (the plan `Program.operation` builds for those shapes and
options, simplified), cut to one output at a time and written out by `unlower`. So a
derived program, registered and evaluated, computes what the operation computes. Each
takes the original's inputs, in order, then the operation's extra arrays: a direction
`v_<name>` per differentiated input for `hvp` and `jvp`, the cotangent `u` for `vjp`
(with `_` appended while a name is taken by an input).

The Hessian diagonal and the Laplacian are e_r' H e_r over every basis direction at once,
with the identity built in (the operation sweeps the directions in chunks, passed in as an
array): the same arithmetic, except that simplification may use the identity's zeros where
the operation cannot, so these two agree to rounding (bitwise on every program we test).
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import derivatives as d
from .builder import Builder, compile_budget
from .errors import LimitExceededError, ProgramError, RequestError
from .ir import Atom, Function
from .latex import latex
from .latex import name as latex_name
from .limits import Limits
from .parser import parse
from .primitives.elementwise import ADD
from .primitives.shape import EYE, GETITEM, REDUCE_SUM, RESHAPE, TRANSPOSE
from .request import Request, prepare
from .resolve import Resolved, resolve
from .simplify import simplify
from .unlower import program_text
from .unparse import content_id

if TYPE_CHECKING:
    from .api import Program

OPERATIONS = ("gradient", "jacobian", "hessian", "hvp", "jvp", "vjp", "laplacian")
FORMATS = ("text", "latex")
TOTAL_PROGRAMS = 16  # an answer holds at most this many max_program_chars of text
MAX_RANK = 32  # like arrays on the wire


@dataclasses.dataclass(frozen=True)
class Derived:
    """The operation's function (inputs, then its extra arrays), the names of those inputs,
    and where each output goes in the answer (result name -> output index, nested like the
    operation's results: gradient[x], hessian[x][y], or {"jvp": index})."""

    function: Function
    names: list[str]
    layout: dict[str, Any]


def derive(program: Program, operation: str, *, wrt: Sequence[str] | None = None,
           at: Mapping[str, Any] | None = None,
           shapes: Mapping[str, Sequence[int]] | None = None, mode: str = "auto",
           diagonal: bool = False, format: str = "text") -> dict[str, Any]:
    """{"operation", "wrt", "programs"}: programs keyed like the operation's results, each
    {"program": text, "id": its content id, "inputs": [...], "shape": [...]}, and with
    format "latex", "latex" (None unless every value of the program is a scalar)."""
    if format not in FORMATS:
        raise RequestError(f"format must be one of {', '.join(FORMATS)}, not '{format}'")
    request = derive_request(program, operation, wrt, at, shapes, mode, diagonal)

    def build() -> dict[str, Any]:
        with compile_budget(program.limits):
            derived = derived_function(program, request)
            derived = dataclasses.replace(derived, function=simplest(derived.function))
            written = [0]

            def leaf(path: tuple[str, ...], index: int) -> dict[str, Any]:
                label = _label(operation, path) if format == "latex" else None
                entry = _entry(program, derived, index, label)
                written[0] += len(entry["program"])
                _check_total(written[0], program.limits)
                return entry

            return _map_leaves(derived.layout, (), leaf)

    key = ("derive", request.types, request.wrt, request.mode, request.diagonal, operation,
           format)
    programs = program.derivations.get_or_build(key, build)
    return {"operation": operation, "wrt": list(request.wrt),
            "programs": copy.deepcopy(programs)}  # the cached answer stays as it was


def derive_request(program: Program, operation: str, wrt: Sequence[str] | None,
                   at: Mapping[str, Any] | None, shapes: Mapping[str, Sequence[int]] | None,
                   mode: str, diagonal: bool) -> Request:
    """The request's names and shapes, checked like an operation's (`request` errors)."""
    if operation not in OPERATIONS:
        raise RequestError(f"derive has no operation '{operation}'",
                           hint=f"one of {', '.join(OPERATIONS)}")
    if (at is None) == (shapes is None):
        raise RequestError("give the input shapes once: 'at' (arrays) or 'shapes' (sizes)",
                           hint='for example "shapes": {"x": [3]}')
    points = at if at is not None else _zeros(shapes, program)  # type: ignore[arg-type]
    # Checked as a Jacobian would be (names, wrt, mode); v and u are inputs here.
    request = prepare(program.inputs, "jacobian", points, wrt, None, None, None, mode, diagonal)
    in_order = tuple(name for name in program.inputs if name in request.wrt)
    return dataclasses.replace(request, operation=operation, wrt=in_order)


def _zeros(shapes: Mapping[str, Sequence[int]], program: Program) -> dict[str, np.ndarray]:
    """Stand-in arrays of the given shapes (zero strides: no memory, whatever the size)."""
    if not isinstance(shapes, Mapping):
        raise RequestError("shapes must map input names to lists of sizes, like {'x': [3]}")
    arrays = {}
    for name, dims in shapes.items():
        if not isinstance(dims, (list, tuple)) or len(dims) > MAX_RANK or any(
                isinstance(n, bool) or not isinstance(n, int) or n < 0 for n in dims):
            raise RequestError(f"shapes['{name}'] must be a list of at most {MAX_RANK} "
                               f"non-negative integers, not {str(dims)[:60]}")
        size = math.prod(dims)
        program.limits.check("max_array_elements", size, program.limits.max_array_elements,
                             f"input '{name}' of shape {tuple(dims)}")
        arrays[name] = np.broadcast_to(np.float64(0.0), tuple(dims))
    return arrays


def derived_function(program: Program, request: Request) -> Derived:
    fn = program.lowered(request.types)
    names = list(program.inputs)
    if request.operation == "laplacian":
        return Derived(diagonal_function(fn, request.wrt_indices, program.limits, True),
                       names, {"laplacian": 0})
    if request.operation == "hessian" and request.diagonal:
        return Derived(diagonal_function(fn, request.wrt_indices, program.limits, False),
                       names, dict(zip(request.wrt, range(len(request.wrt)))))
    operation = program.operation(fn, request)
    for extra in operation.extras:
        names.append(_unused("v_" + extra[2:] if extra.startswith("v:") else extra, names))
    results = operation.assemble(list(range(len(operation.function.outputs))))
    results.pop("value", None)
    ((key, inner),) = results.items()
    layout = inner if isinstance(inner, dict) else {key: inner}
    return Derived(operation.function, names, layout)


def _unused(stem: str, taken: Sequence[str]) -> str:
    while stem in taken:
        stem += "_"
    return stem


def diagonal_function(fn: Function, wrt: Sequence[int], limits: Limits, laplacian: bool
                      ) -> Function:
    """Outputs: the Hessian diagonal per wrt input (out + I_i), or their total trace."""
    shapes = [fn.inputs[i].type.shape for i in wrt]
    n = sum(math.prod(s) for s in shapes)
    rows = d.hessian_diagonal_rows(fn, wrt, n, limits)
    b = Builder(limits)
    xs = d.fresh_inputs(fn)
    (diagonal,) = d.inline(b, rows, [*xs, b.bind(EYE, n=n)])
    out_ndim, offset, parts = diagonal.type.ndim - 1, 0, []
    for shape in shapes:  # like operations.split_diagonal
        size = math.prod(shape)
        part = b.bind(GETITEM, diagonal, index=((offset, offset + size, 1),))
        part = b.bind(RESHAPE, part, shape=shape + diagonal.type.shape[1:])
        perm = tuple(range(len(shape), len(shape) + out_ndim)) + tuple(range(len(shape)))
        parts.append(b.bind(TRANSPOSE, part, perm=perm))
        offset += size
    if laplacian:
        sums = [b.bind(REDUCE_SUM, part, axes=tuple(range(out_ndim, part.type.ndim)))
                for part in parts]
        total: Atom = sums[0]
        for term in sums[1:]:
            total = b.bind(ADD, total, term)
        parts = [total]
    return simplify(b.function(xs, parts, fn.names))


def _check_total(chars: int, limits: Limits) -> None:
    """All the programs of one answer together: a Hessian over many inputs is many blocks."""
    cap = TOTAL_PROGRAMS * limits.max_program_chars
    if chars > cap:
        raise LimitExceededError(
            f"the derived programs have over {cap} characters in all, {TOTAL_PROGRAMS} x the "
            f"limit max_program_chars = {limits.max_program_chars}", None,
            "derive fewer inputs at once (wrt), or an hvp instead of a Hessian",
            limit="max_program_chars", value=limits.max_program_chars)


def _map_leaves(tree: Any, path: tuple[str, ...], leaf: Any) -> Any:
    if isinstance(tree, dict):
        return {key: _map_leaves(value, path + (key,), leaf) for key, value in tree.items()}
    return leaf(path, tree)


def _label(operation: str, path: tuple[str, ...]) -> str:
    """How a result is named in LaTeX: d f / d x, (H v)_x, ..."""
    x = [latex_name(n) for n in path]
    if operation == "hessian":
        return (rf"\frac{{\partial^2 f}}{{\partial {x[0]}^2}}" if len(x) == 1 else
                rf"\frac{{\partial^2 f}}{{\partial {x[0]} \, \partial {x[1]}}}")
    return {"gradient": rf"\frac{{\partial f}}{{\partial {x[0]}}}",
            "jacobian": rf"\frac{{\partial f}}{{\partial {x[0]}}}",
            "hvp": rf"(H v)_{{{x[0]}}}", "vjp": rf"(u^{{\top}} J)_{{{x[0]}}}",
            "jvp": "J v", "laplacian": r"\Delta f"}[operation]


def simplest(fn: Function, rounds: int = 4) -> Function:
    """simplify until nothing changes: one pass can leave work for the next (a product
    with a reshaped 1 once the reshape is gone), and the text should not show it."""
    for _ in range(rounds):
        simpler = simplify(fn)
        if len(simpler.eqns) >= len(fn.eqns):
            return fn
        fn = simpler
    return fn


def _entry(program: Program, derived: Derived, index: int, label: str | None
           ) -> dict[str, Any]:
    fn = derived.function
    output = fn.outputs[index]
    text = program_text(Function(fn.inputs, fn.eqns, [output], fn.names), derived.names)
    resolved = _registered(text, program.limits)
    entry = {"program": text, "id": content_id(resolved.program),
             "inputs": list(derived.names), "shape": list(output.type.shape)}
    if label is not None:
        scalar = all(a.type.shape == () for a in [*fn.inputs, output])
        entry["latex"] = latex(resolved.program, label) if scalar else None
    return entry


def _registered(text: str, limits: Limits) -> Resolved:
    """The text as registration reads it; it must be a program this server accepts."""
    try:
        return resolve(parse(text, limits))
    except LimitExceededError as err:
        raise LimitExceededError(f"the derived program is over a limit: {err.message}", None,
                                 "differentiate a smaller program, or fewer inputs at once",
                                 limit=err.limit, value=err.value) from None
    except ProgramError as err:  # our own text does not parse: a bug, never the user's
        raise AssertionError(f"derived text does not parse: {err}\n{text}") from None
