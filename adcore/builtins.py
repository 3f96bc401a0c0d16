"""The language's builtin functions (SPEC §2.4), each lowered to primitives.

Builtin names are the one place strings select behaviour: the parser's names meet the
primitive objects here. Composite builtins (mean, logsumexp, softmax, prod, clip, trace,
diag...) are built from primitives, so they need no derivative rules of their own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .builder import Builder
from .errors import ShapeError, SignatureError
from .ir import Atom, Lit
from .primitives import elementwise as ew
from .primitives import linalg as la
from .primitives import reduce as rd
from .primitives import shape as sh

Lowering = Callable[[Builder, list[Atom], dict], Atom]


@dataclass(frozen=True)
class Builtin:
    name: str
    lower: Lowering
    min_args: int
    max_args: int | None  # None: any number
    keywords: frozenset[str] = frozenset()
    ints_from: int | None = None  # positional arguments from here on are integer literals,
    # passed to `lower` as kw["dims"] (shapes)
    mask_first: bool = False  # the first argument is a comparison (where)


UNARY = {
    "abs": ew.ABS, "sign": ew.SIGN, "sqrt": ew.SQRT, "cbrt": ew.CBRT, "exp": ew.EXP,
    "expm1": ew.EXPM1, "log": ew.LOG, "log1p": ew.LOG1P, "log2": ew.LOG2, "log10": ew.LOG10,
    "sin": ew.SIN, "cos": ew.COS, "tan": ew.TAN, "arcsin": ew.ARCSIN, "arccos": ew.ARCCOS,
    "arctan": ew.ARCTAN, "sinh": ew.SINH, "cosh": ew.COSH, "tanh": ew.TANH,
    "arcsinh": ew.ARCSINH, "arccosh": ew.ARCCOSH, "arctanh": ew.ARCTANH,
    "sigmoid": ew.SIGMOID, "softplus": ew.SOFTPLUS, "relu": ew.RELU, "erf": ew.ERF,
    "floor": ew.FLOOR, "ceil": ew.CEIL, "round": ew.ROUND, "stop_gradient": sh.STOP_GRADIENT,
}
BINARY = {"atan2": ew.ATAN2, "maximum": ew.MAXIMUM, "minimum": ew.MINIMUM, "pow": ew.POW}
CONSTANTS = {"pi": math.pi, "e": math.e}
DERIVATIVES = frozenset({"grad", "jacobian", "jacfwd", "jacrev", "hessian", "jvp", "hvp"})
FUNCTION_MAKERS = frozenset({"grad", "jacobian", "jacfwd", "jacrev", "hessian"})  # f -> f'



def normalize_axis(axis: int, ndim: int) -> int:
    if not -ndim <= axis < max(ndim, 1) or ndim == 0:
        raise ShapeError(f"axis {axis} is out of range for an array with {ndim} axes")
    return axis % ndim


def _axes(x: Atom, kw: dict[str, int]) -> tuple[int, ...]:
    if "axis" in kw:
        return (normalize_axis(kw["axis"], x.type.ndim),)
    return tuple(range(x.type.ndim))


def _reduction(prim) -> Lowering:
    return lambda b, args, kw: b.bind(prim, args[0], axes=_axes(args[0], kw))


def _mean(b: Builder, args: list[Atom], kw: dict[str, int]) -> Atom:
    x, axes = args[0], _axes(args[0], kw)
    count = math.prod(x.type.shape[a] for a in axes)
    return b.bind(ew.MUL, b.bind(sh.REDUCE_SUM, x, axes=axes), 1.0 / count if count else math.nan)


def _prod(b: Builder, args: list[Atom], kw: dict[str, int]) -> Atom:
    """Pairwise products of the two halves, halving the axis each round: log2(n) vectorized
    multiplies, with exact derivatives at every order (zeros included)."""
    x = args[0]
    if "axis" not in kw:
        x, axis = b.bind(sh.RESHAPE, x, shape=(x.type.size,)), 0
    else:
        axis = normalize_axis(kw["axis"], x.type.ndim)
    lead = ((0, None, 1),) * axis
    n = x.type.shape[axis]
    if n == 0:
        out_shape = x.type.shape[:axis] + x.type.shape[axis + 1:]
        return b.bind(sh.BROADCAST, Lit(1.0), shape=out_shape)
    while n > 1:
        half = n // 2
        low = b.bind(sh.GETITEM, x, index=lead + ((0, half, 1),))
        high = b.bind(sh.GETITEM, x, index=lead + ((half, 2 * half, 1),))
        paired = b.bind(ew.MUL, low, high)
        if n % 2:
            last = b.bind(sh.GETITEM, x, index=lead + ((n - 1, n, 1),))
            paired = b.bind(sh.CONCAT, paired, last, axis=axis)
        x, n = paired, half + n % 2
    return b.bind(sh.GETITEM, x, index=lead + (0,))


def _shift(b: Builder, x: Atom, axes: tuple[int, ...]) -> Atom:
    """max over axes, held constant (it cancels out), with -inf replaced by 0 so that an
    all -inf slice gives -inf rather than nan."""
    m = b.bind(sh.STOP_GRADIENT, b.bind(rd.REDUCE_MAX, x, axes=axes))
    return b.bind(ew.SELECT, b.bind(ew.EQ, m, -math.inf), 0.0, m)


def _logsumexp(b: Builder, args: list[Atom], kw: dict[str, int]) -> Atom:
    x, axes = args[0], _axes(args[0], kw)
    m = _shift(b, x, axes)
    shifted = b.bind(ew.SUB, x, sh.expand_reduced(b, m, x.type.shape, axes))
    total = b.bind(sh.REDUCE_SUM, b.bind(ew.EXP, shifted), axes=axes)
    return b.bind(ew.ADD, m, b.bind(ew.LOG, total))


def _softmax(b: Builder, args: list[Atom], kw: dict[str, int]) -> Atom:
    x = args[0]
    axes = (normalize_axis(kw.get("axis", -1), x.type.ndim),) if x.type.ndim else ()
    m = sh.expand_reduced(b, _shift(b, x, axes), x.type.shape, axes)
    e = b.bind(ew.EXP, b.bind(ew.SUB, x, m))
    total = sh.expand_reduced(b, b.bind(sh.REDUCE_SUM, e, axes=axes), x.type.shape, axes)
    return b.bind(ew.DIV, e, total)


def matmul(b: Builder, x: Atom, y: Atom) -> Atom:
    """numpy matmul for 1-D and 2-D operands."""
    specs = {(1, 1): ("i", "i", ""), (2, 1): ("ij", "j", "i"), (1, 2): ("j", "jk", "k"),
             (2, 2): ("ij", "jk", "ik")}
    spec = specs.get((x.type.ndim, y.type.ndim))
    if spec is None:
        raise ShapeError(f"@ and matmul take 1-D or 2-D operands, not shapes {x.type.shape} "
                         f"and {y.type.shape}", None, "use sum(a * b, axis=k) for other shapes")
    return b.bind(la.EINSUM, x, y, spec=spec)


def _dot(b: Builder, args: list[Atom], kw: dict[str, int]) -> Atom:
    x, y = args
    if x.type.ndim == 0 or y.type.ndim == 0:
        return b.bind(ew.MUL, x, y)
    return matmul(b, x, y)


def _outer(b: Builder, args: list[Atom], kw: dict[str, int]) -> Atom:
    x, y = (b.bind(sh.RESHAPE, a, shape=(a.type.size,)) for a in args)
    return b.bind(la.EINSUM, x, y, spec=("i", "j", "ij"))


def _square_part(b: Builder, x: Atom, what: str) -> tuple[Atom, int]:
    if x.type.ndim != 2:
        raise ShapeError(f"{what} takes a matrix, not shape {x.type.shape}")
    k = min(x.type.shape)
    if x.type.shape != (k, k):
        x = b.bind(sh.GETITEM, x, index=((0, k, 1), (0, k, 1)))
    return x, k


def _trace(b: Builder, args: list[Atom], kw: dict[str, int]) -> Atom:
    x, k = _square_part(b, args[0], "trace")
    return b.bind(la.EINSUM, x, b.bind(sh.EYE, n=k), spec=("ij", "ij", ""))


def _diag(b: Builder, args: list[Atom], kw: dict[str, int]) -> Atom:
    x = args[0]
    if x.type.ndim == 1:
        return b.bind(la.EINSUM, x, b.bind(sh.EYE, n=x.type.shape[0]), spec=("i", "ij", "ij"))
    x, k = _square_part(b, x, "diag")
    return b.bind(la.EINSUM, x, b.bind(sh.EYE, n=k), spec=("ij", "ij", "i"))


def _transpose(b: Builder, args: list[Atom], kw: dict[str, int]) -> Atom:
    x = args[0]
    return b.bind(sh.TRANSPOSE, x, perm=tuple(reversed(range(x.type.ndim))))


def _reshape(b: Builder, args: list[Atom], dims: Sequence[int]) -> Atom:
    x = args[0]
    if list(dims).count(-1) > 1 or any(d < -1 for d in dims):
        raise SignatureError("reshape takes non-negative sizes and at most one -1")
    if -1 in dims:
        known = math.prod(d for d in dims if d != -1)
        if known == 0 or x.type.size % known:
            raise ShapeError(f"cannot reshape shape {x.type.shape} into {tuple(dims)}")
        dims = [x.type.size // known if d == -1 else d for d in dims]
    return b.bind(sh.RESHAPE, x, shape=tuple(dims))


def _concat(b: Builder, args: list[Atom], kw: dict[str, int]) -> Atom:
    first = args[0]
    if first.type.ndim == 0:
        raise ShapeError("concat needs arrays with at least one axis", None, "use stack")
    return b.bind(sh.CONCAT, *args, axis=normalize_axis(kw.get("axis", 0), first.type.ndim))


def stack(b: Builder, args: Sequence[Atom], axis: int = 0) -> Atom:
    shape = args[0].type.shape
    if any(a.type.shape != shape for a in args):
        shapes = ", ".join(str(a.type.shape) for a in args)
        raise ShapeError(f"stacked arrays must have equal shapes, not {shapes}")
    axis = normalize_axis(axis, len(shape) + 1)
    expanded = shape[:axis] + (1,) + shape[axis:]
    parts = [b.bind(sh.RESHAPE, a, shape=expanded) for a in args]
    return parts[0] if len(parts) == 1 else b.bind(sh.CONCAT, *parts, axis=axis)


def _fill(value: float) -> Lowering:
    def lower(b: Builder, args: list[Atom], kw: dict) -> Atom:
        dims = kw["dims"]
        if any(d < 0 for d in dims):
            raise ShapeError(f"array sizes must be non-negative, not {tuple(dims)}")
        return b.bind(sh.FILL, value=value, shape=tuple(dims))

    return lower


def _eye(b: Builder, args: list[Atom], kw: dict) -> Atom:
    dims = kw["dims"]
    if dims[0] < 0:
        raise ShapeError(f"eye needs a non-negative size, not {dims[0]}")
    return b.bind(sh.EYE, n=dims[0])


def _clip(b: Builder, args: list[Atom], kw: dict[str, int]) -> Atom:
    x, lo, hi = args
    return b.bind(ew.MINIMUM, b.bind(ew.MAXIMUM, x, lo), hi)


AXIS = frozenset({"axis"})


def _table() -> dict[str, Builtin]:
    table = {name: Builtin(name, lambda b, a, kw, p=prim: b.bind(p, a[0]), 1, 1)
             for name, prim in UNARY.items()}
    table.update({name: Builtin(name, lambda b, a, kw, p=prim: b.bind(p, a[0], a[1]), 2, 2)
                  for name, prim in BINARY.items()})
    for builtin in [
        Builtin("square", lambda b, a, kw: b.bind(ew.MUL, a[0], a[0]), 1, 1),
        Builtin("where", lambda b, a, kw: b.bind(ew.SELECT, *a), 3, 3, mask_first=True),
        Builtin("clip", _clip, 3, 3),
        Builtin("sum", _reduction(sh.REDUCE_SUM), 1, 1, AXIS),
        Builtin("max", _reduction(rd.REDUCE_MAX), 1, 1, AXIS),
        Builtin("min", _reduction(rd.REDUCE_MIN), 1, 1, AXIS),
        Builtin("norm", _reduction(rd.NORM), 1, 1, AXIS),
        Builtin("mean", _mean, 1, 1, AXIS),
        Builtin("prod", _prod, 1, 1, AXIS),
        Builtin("logsumexp", _logsumexp, 1, 1, AXIS),
        Builtin("softmax", _softmax, 1, 1, AXIS),
        Builtin("dot", _dot, 2, 2),
        Builtin("matmul", lambda b, a, kw: matmul(b, *a), 2, 2),
        Builtin("outer", _outer, 2, 2),
        Builtin("trace", _trace, 1, 1),
        Builtin("diag", _diag, 1, 1),
        Builtin("transpose", _transpose, 1, 1),
        Builtin("concat", _concat, 1, None, AXIS),
        Builtin("stack", lambda b, a, kw: stack(b, a, kw.get("axis", 0)), 1, None, AXIS),
        Builtin("reshape", lambda b, a, kw: _reshape(b, a, kw["dims"]), 1, None, ints_from=1),
        Builtin("zeros", _fill(0.0), 0, None, ints_from=0),
        Builtin("ones", _fill(1.0), 0, None, ints_from=0),
        Builtin("eye", _eye, 1, 1, ints_from=0),
    ]:
        table[builtin.name] = builtin
    return table


BUILTINS: dict[str, Builtin] = _table()
