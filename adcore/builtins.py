"""The language's builtin functions (SPEC §2.4), each lowered to primitives.

Builtin names are the one place strings select behaviour: the parser's names meet the
primitive objects here. Composite builtins (mean, logsumexp, softmax, prod, clip, trace,
diag...) are built from primitives, so they need no derivative rules of their own.
"""

from __future__ import annotations

import math
import string
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
    indexed_first: bool = False  # the first argument is `target[index]` (add_at): `lower`
    # gets the target, with kw["index"] and kw["into_zeros"]
    int_lists: frozenset[int] = frozenset()  # positions of integer lists like [0, 1],
    # passed to `lower` in order as kw["lists"] (einsum labels)

    @property
    def takes_only_arrays(self) -> bool:
        """Whether it can be passed as a function value (`jacobian(transpose)`)."""
        return not (self.mask_first or self.indexed_first or self.int_lists
                    or self.ints_from == 0)


UNARY = {
    "abs": ew.ABS, "sign": ew.SIGN, "sqrt": ew.SQRT, "cbrt": ew.CBRT, "exp": ew.EXP,
    "expm1": ew.EXPM1, "log": ew.LOG, "log1p": ew.LOG1P, "log2": ew.LOG2, "log10": ew.LOG10,
    "sin": ew.SIN, "cos": ew.COS, "tan": ew.TAN, "arcsin": ew.ARCSIN, "arccos": ew.ARCCOS,
    "arctan": ew.ARCTAN, "sinh": ew.SINH, "cosh": ew.COSH, "tanh": ew.TANH,
    "arcsinh": ew.ARCSINH, "arccosh": ew.ARCCOSH, "arctanh": ew.ARCTANH,
    "sigmoid": ew.SIGMOID, "softplus": ew.SOFTPLUS, "relu": ew.RELU, "erf": ew.ERF,
    "floor": ew.FLOOR, "ceil": ew.CEIL, "round": ew.ROUND, "stop_gradient": sh.STOP_GRADIENT,
}
BINARY = {"atan2": ew.ATAN2, "maximum": ew.MAXIMUM, "minimum": ew.MINIMUM, "pow": ew.POW,
          "strong_mul": ew.SMUL}
REDUCTIONS = {"sum": sh.REDUCE_SUM, "max": rd.REDUCE_MAX, "min": rd.REDUCE_MIN, "norm": rd.NORM}
CONSTANTS = {"pi": math.pi, "e": math.e}
DERIVATIVES = frozenset({"grad", "jacobian", "jacfwd", "jacrev", "hessian", "jvp", "hvp"})
FUNCTION_MAKERS = frozenset({"grad", "jacobian", "jacfwd", "jacrev", "hessian"})  # f -> f'



def normalize_axis(axis: int, ndim: int) -> int:
    if not -ndim <= axis < max(ndim, 1) or ndim == 0:
        raise ShapeError(f"axis {axis} is out of range for an array with {ndim} axes")
    return axis % ndim


def normalize_axes(axis: int | tuple[int, ...], ndim: int) -> tuple[int, ...]:
    """`axis=k` or `axis=[k1, k2]`, each normalized, in the order given."""
    axes = tuple(normalize_axis(a, ndim) for a in (axis if isinstance(axis, tuple) else (axis,)))
    if len(set(axes)) != len(axes):
        raise ShapeError(f"axis {list(axis) if isinstance(axis, tuple) else axis} names an "
                         "axis twice")
    return axes


def single_axis(kw: dict, default: int, name: str) -> int:
    axis = kw.get("axis", default)
    if isinstance(axis, tuple):
        raise SignatureError(f"{name} takes one axis, not a list of axes")
    return axis


def _axes(x: Atom, kw: dict) -> tuple[int, ...]:
    if "axis" in kw:
        return normalize_axes(kw["axis"], x.type.ndim)
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
        axis = normalize_axis(single_axis(kw, 0, "prod"), x.type.ndim)
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
    axes = normalize_axes(kw.get("axis", -1), x.type.ndim) if x.type.ndim else ()
    m = sh.expand_reduced(b, _shift(b, x, axes), x.type.shape, axes)
    e = b.bind(ew.EXP, b.bind(ew.SUB, x, m))
    total = sh.expand_reduced(b, b.bind(sh.REDUCE_SUM, e, axes=axes), x.type.shape, axes)
    return b.bind(ew.DIV, e, total)


# numpy matmul for 1-D and 2-D operands, as einsum specs by operand ranks
MATMUL_SPECS = {(1, 1): ("i", "i", ""), (2, 1): ("ij", "j", "i"), (1, 2): ("j", "jk", "k"),
                (2, 2): ("ij", "jk", "ik")}


def matmul(b: Builder, x: Atom, y: Atom) -> Atom:
    """numpy matmul for 1-D and 2-D operands."""
    spec = MATMUL_SPECS.get((x.type.ndim, y.type.ndim))
    if spec is None:
        raise ShapeError(f"@ and matmul take 1-D or 2-D operands, not shapes {x.type.shape} "
                         f"and {y.type.shape}", None, "use sum(a * b, axis=k) for other shapes")
    return b.bind(la.EINSUM, x, y, spec=spec)


def einsum(b: Builder, args: list[Atom], kw: dict) -> Atom:
    """numpy's sublist form, einsum(a, [0, 1], b, [1, 2], [0, 2]): integer labels per axis;
    without the output list, the labels that appear once, in increasing order (numpy's
    implicit mode). Each operand label must appear in the other operand or the output."""
    a_labels, b_labels, *given = kw["lists"]
    both = a_labels + b_labels
    out = given[0] if given else tuple(sorted(k for k in set(both) if both.count(k) == 1))
    if any(not 0 <= k < len(string.ascii_letters) for k in both + out):
        raise SignatureError(f"einsum labels are integers from 0 to "
                             f"{len(string.ascii_letters) - 1}")
    if len(set(a_labels)) != len(a_labels) or len(set(b_labels)) != len(b_labels):
        raise ShapeError("an einsum operand cannot repeat a label (a diagonal)", None,
                         "take the diagonal first, with diag(x)")
    if len(set(out)) != len(out) or any(k not in both for k in out):
        raise ShapeError(f"einsum output labels {list(out)} must be distinct labels of the "
                         "operands")
    for which, labels, other in (("first", a_labels, b_labels), ("second", b_labels, a_labels)):
        alone = [k for k in labels if k not in other and k not in out]
        if alone:
            raise ShapeError(f"einsum label {alone[0]} of the {which} operand appears neither in "
                             "the other operand nor in the output", None,
                             "sum that axis first, with sum(x, axis=k)")
    spec = tuple("".join(string.ascii_letters[k] for k in labels)
                 for labels in (a_labels, b_labels, out))
    return b.bind(la.EINSUM, *args, spec=spec)


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


def _transpose(b: Builder, args: list[Atom], kw: dict) -> Atom:
    """transpose(x) reverses the axes; transpose(x, 1, 0, 2) permutes them like numpy."""
    x, dims = args[0], kw.get("dims", [])
    if not dims:
        return b.bind(sh.TRANSPOSE, x, perm=tuple(reversed(range(x.type.ndim))))
    if len(dims) != x.type.ndim:
        raise ShapeError(f"transpose of shape {x.type.shape} takes {x.type.ndim} axis numbers, "
                         f"not {len(dims)}")
    return b.bind(sh.TRANSPOSE, x, perm=tuple(normalize_axis(d, x.type.ndim) for d in dims))


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
    return b.bind(sh.CONCAT, *args,
                  axis=normalize_axis(single_axis(kw, 0, "concat"), first.type.ndim))


def stack(b: Builder, args: Sequence[Atom], axis: int = 0) -> Atom:
    shape = args[0].type.shape
    if any(a.type.shape != shape for a in args):
        shapes = ", ".join(str(a.type.shape) for a in args)
        raise ShapeError(f"stacked arrays must have equal shapes, not {shapes}")
    axis = normalize_axis(axis, len(shape) + 1)
    expanded = shape[:axis] + (1,) + shape[axis:]
    parts = [b.bind(sh.RESHAPE, a, shape=expanded) for a in args]
    return parts[0] if len(parts) == 1 else b.bind(sh.CONCAT, *parts, axis=axis)


def sizes(dims: Sequence[int]) -> tuple[int, ...]:
    if any(d < 0 for d in dims):
        raise ShapeError(f"array sizes must be non-negative, not {tuple(dims)}")
    return tuple(dims)


def _fill(value: float) -> Lowering:
    return lambda b, args, kw: b.bind(sh.FILL, value=value, shape=sizes(kw["dims"]))


def _add_at(b: Builder, args: list[Atom], kw: dict) -> Atom:
    """add_at(target[index], v): target with v added at index (scatter-add, the transpose of
    indexing); into zeros(...), a plain scatter."""
    target, value = args
    if kw["into_zeros"]:
        return b.bind(sh.SCATTER, value, index=kw["index"], shape=target.type.shape)
    return b.bind(sh.SCATTER_ADD, target, value, index=kw["index"])


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
        *(Builtin(name, _reduction(prim), 1, 1, AXIS) for name, prim in REDUCTIONS.items()),
        Builtin("mean", _mean, 1, 1, AXIS),
        Builtin("prod", _prod, 1, 1, AXIS),
        Builtin("logsumexp", _logsumexp, 1, 1, AXIS),
        Builtin("softmax", _softmax, 1, 1, AXIS),
        Builtin("dot", _dot, 2, 2),
        Builtin("matmul", lambda b, a, kw: matmul(b, *a), 2, 2),
        Builtin("outer", _outer, 2, 2),
        Builtin("trace", _trace, 1, 1),
        Builtin("diag", _diag, 1, 1),
        Builtin("transpose", _transpose, 1, None, ints_from=1),
        Builtin("concat", _concat, 1, None, AXIS),
        Builtin("stack", lambda b, a, kw: stack(b, a, single_axis(kw, 0, "stack")), 1, None,
                AXIS),
        Builtin("reshape", lambda b, a, kw: _reshape(b, a, kw["dims"]), 1, None, ints_from=1),
        Builtin("zeros", _fill(0.0), 0, None, ints_from=0),
        Builtin("ones", _fill(1.0), 0, None, ints_from=0),
        Builtin("eye", _eye, 1, 1, ints_from=0),
        Builtin("broadcast_to", lambda b, a, kw: b.bind(sh.BROADCAST, a[0], shape=sizes(
            kw["dims"])), 1, None, ints_from=1),
        Builtin("sum_to", lambda b, a, kw: b.bind(sh.SUM_TO, a[0], shape=sizes(kw["dims"])),
                1, None, ints_from=1),
        Builtin("add_at", _add_at, 2, 2, indexed_first=True),
        Builtin("einsum", einsum, 4, 5, int_lists=frozenset({1, 3, 4})),
    ]:
        table[builtin.name] = builtin
    return table


BUILTINS: dict[str, Builtin] = _table()
