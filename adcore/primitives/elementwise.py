"""Elementwise primitives: numpy broadcasting, one record each, built by small factories.

Derivative conventions (SPEC §2.4) live here: `abs`, `sign`, `relu` have derivative 0 at 0,
`floor`/`ceil`/`round` everywhere; `maximum`/`minimum` split ties equally; `where` is
NaN-safe because a coefficient that can be infinite is applied with `smul`, the
strong-zero product (a zero tangent or cotangent times anything is zero), so the branch not
taken contributes exactly zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from scipy import special

from ..builder import shape_error
from ..ir import ArrayType, Atom, Lit, Params, Var, broadcast_shapes
from . import patterns as pt
from .registry import (
    JvpRule,
    Primitive,
    TransposeRule,
    elementwise_cost,
    no_jvp,
    register,
)

if TYPE_CHECKING:
    from ..builder import Builder

Coefficient = Callable[["Builder", Atom, Var], Atom]


# ---- shape and batching, shared by every elementwise record ----

def broadcast_shape(in_types: tuple[ArrayType, ...], params: Params) -> ArrayType:
    try:
        shape = broadcast_shapes(*(t.shape for t in in_types))
    except ValueError:
        shapes = " and ".join(str(t.shape) for t in in_types)
        raise shape_error(f"shapes {shapes} do not broadcast together",
                          "numpy broadcasting: trailing axes must match or be 1") from None
    for t in in_types:
        if t.dtype != "float64":
            raise shape_error("a comparison result (a mask) can only be the first argument "
                              "of where", "write where(mask, a, b)")
    return ArrayType(tuple(shape))


def compare_shape(in_types: tuple[ArrayType, ...], params: Params) -> ArrayType:
    return ArrayType(broadcast_shape(in_types, params).shape, "bool")


def select_shape(in_types: tuple[ArrayType, ...], params: Params) -> ArrayType:
    mask, *branches = in_types
    out = broadcast_shape((ArrayType(mask.shape), *branches), params)
    if mask.dtype != "bool":
        raise shape_error("the first argument of where must be a comparison",
                          "for example where(x > 0, x, 0)")
    return out


def elementwise_batch(prim_ref: Callable[[], Primitive]) -> Callable[..., Atom]:
    """Move every batched operand's batch axis in front of the broadcast rank."""

    def batch(b: Builder, ins: Sequence[Atom], batched: Sequence[bool], params: Params,
              size: int) -> Atom:
        rank = max(a.type.ndim - int(bt) for a, bt in zip(ins, batched))
        aligned = [align_batched(b, a, rank) if bt else a for a, bt in zip(ins, batched)]
        return b.bind(prim_ref(), *aligned, **params)

    return batch


def align_batched(b: Builder, atom: Atom, rank: int) -> Atom:
    """(B, *s) -> (B, 1, ..., 1, *s) so numpy's right-aligned broadcasting lines up."""
    shape = atom.type.shape
    missing = rank - (len(shape) - 1)
    if missing <= 0:
        return atom
    return b.bind(shape_prims().RESHAPE, atom, shape=(shape[0],) + (1,) * missing + shape[1:])


def shape_prims():
    from . import shape

    return shape


def unbroadcast(b: Builder, ct: Atom, shape: tuple[int, ...]) -> Atom:
    """Sum a cotangent down to an operand's shape (the transpose of broadcasting)."""
    if ct.type.shape == shape:
        return ct
    return b.bind(shape_prims().SUM_TO, ct, shape=shape)


def broadcast_to(b: Builder, t: Atom, shape: tuple[int, ...]) -> Atom:
    if t.type.shape == shape:
        return t
    return b.bind(shape_prims().BROADCAST, t, shape=shape)


def add_tangents(b: Builder, x: Atom | None, y: Atom | None) -> Atom | None:
    if x is None:
        return y
    if y is None:
        return x
    return b.bind(ADD, x, y)


def zero_if_none(t: Atom | None) -> Atom:
    return Lit(0.0) if t is None else t


# ---- factories ----

def _template(fn: Callable[..., object], arity: int) -> str:
    if isinstance(fn, np.ufunc):
        return f"np.{fn.__name__}(" + ", ".join(f"{{{i}}}" for i in range(arity)) + ")"
    raise TypeError(fn)


def _register(name: str, impl: Callable[..., object], numpy: str, jvp: JvpRule,
              transpose: TransposeRule | None = None, flops: float = 1.0,
              shape=broadcast_shape, linear: bool = False, scalar: str | None = None,
              sparsity: pt.SparsityRule = pt.general) -> Primitive:
    """`scalar` defaults to the numpy template, whose np.* calls numba also compiles for
    scalars. `sparsity` defaults to a smooth non-linear function of every operand."""
    holder: list[Primitive] = []
    prim = register(Primitive(
        name=name, shape=shape, impl=impl, numpy=numpy, jvp=jvp, transpose=transpose,
        batch=elementwise_batch(lambda: holder[0]), cost=elementwise_cost(flops),
        sparsity=sparsity, linear=linear, elementwise=True, scalar=scalar or numpy,
    ))
    holder.append(prim)
    return prim


def unary(name: str, impl: Callable[..., object], coefficient: Coefficient | None,
          *, flops: float = 10.0, numpy: str | None = None, scalar: str | None = None,
          sparsity: pt.SparsityRule | None = None) -> Primitive:
    """f(x) with tangent smul(t, coefficient(x, f(x))): strong zero, because a coefficient
    is infinite or NaN wherever f is (log at 0, anything at a masked-out inf), and a zero
    tangent from the branch `where` did not take must stay exactly zero."""

    def jvp(b: Builder, primals: Sequence[Atom], tangents: Sequence[Atom | None],
            params: Params, out: Var) -> Atom | None:
        (x,), (t,) = primals, tangents
        if t is None or coefficient is None:
            return None
        return b.bind(SMUL, t, coefficient(b, x, out))

    if sparsity is None:
        sparsity = pt.general if coefficient is not None else pt.constant
    return _register(name, impl, numpy or _template(impl, 1), jvp, flops=flops, scalar=scalar,
                     sparsity=sparsity)


# ---- linear and bilinear arithmetic ----

def _add_jvp(b, primals, tangents, params, out):
    t = add_tangents(b, *tangents)
    return None if t is None else broadcast_to(b, t, out.type.shape)


def _add_transpose(b, ct, ins, linear, params):
    return [unbroadcast(b, ct, a.type.shape) if lin else None for a, lin in zip(ins, linear)]


def _sub_jvp(b, primals, tangents, params, out):
    tx, ty = tangents
    if ty is None:
        return None if tx is None else broadcast_to(b, tx, out.type.shape)
    t = b.bind(NEG, ty) if tx is None else b.bind(SUB, tx, ty)
    return broadcast_to(b, t, out.type.shape)


def _sub_transpose(b, ct, ins, linear, params):
    x, y = ins
    return [unbroadcast(b, ct, x.type.shape) if linear[0] else None,
            unbroadcast(b, b.bind(NEG, ct), y.type.shape) if linear[1] else None]


def _neg_jvp(b, primals, tangents, params, out):
    return None if tangents[0] is None else b.bind(NEG, tangents[0])


def _neg_transpose(b, ct, ins, linear, params):
    return [b.bind(NEG, ct)]


def product() -> tuple[JvpRule, TransposeRule]:
    """Rules of a bilinear elementwise product (mul and smul). Tangents and cotangents are
    multiplied with the strong-zero smul: a zero (co)tangent from the branch `where` did not
    take stays zero even against an infinite or NaN factor."""

    def jvp(b, primals, tangents, params, out):
        (x, y), (tx, ty) = primals, tangents
        left = None if tx is None else b.bind(SMUL, tx, y)
        right = None if ty is None else b.bind(SMUL, x, ty)
        t = add_tangents(b, left, right)
        return None if t is None else broadcast_to(b, t, out.type.shape)

    def transpose(b, ct, ins, linear, params):
        x, y = ins
        if linear[0] and linear[1]:
            raise AssertionError("product of two tangents is not linear")
        return [unbroadcast(b, b.bind(SMUL, ct, y), x.type.shape) if linear[0] else None,
                unbroadcast(b, b.bind(SMUL, x, ct), y.type.shape) if linear[1] else None]

    return jvp, transpose


def all_finite(x: np.ndarray) -> bool:
    """True when every element is finite: one summing pass (a sum of finite elements that
    overflows says False, so callers must treat False as "maybe not")."""
    return math.isfinite(np.add.reduce(x, axis=None))  # np.sum's own overhead is 2 us


def strong_zero_multiply(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x * y, except that 0 times anything (inf, nan) is 0."""
    out = np.multiply(x, y)
    # Any inf or nan takes the slow path, which is exact (so does an overflowing sum).
    if not all_finite(out):
        out = np.where((np.asarray(x) == 0) | (np.asarray(y) == 0), 0.0, out)
    return out


LINEAR = pt.linear_elementwise
ADD = _register("add", np.add, "({0} + {1})", _add_jvp, _add_transpose, linear=True,
                sparsity=LINEAR)
SUB = _register("sub", np.subtract, "({0} - {1})", _sub_jvp, _sub_transpose, linear=True,
                sparsity=LINEAR)
NEG = _register("neg", np.negative, "(-{0})", _neg_jvp, _neg_transpose, linear=True,
                sparsity=LINEAR)
MUL = _register("mul", np.multiply, "({0} * {1})", *product(), sparsity=pt.product)
SMUL = _register("smul", strong_zero_multiply, "smul({0}, {1})", *product(),
                 scalar="(0.0 if ({0} == 0.0) | ({1} == 0.0) else {0} * {1})",
                 sparsity=pt.product)


def _div_jvp(b, primals, tangents, params, out):
    (_, y), (tx, ty) = primals, tangents
    left = None if tx is None else b.bind(SMUL, tx, b.bind(DIV, 1.0, y))
    right = None if ty is None else b.bind(SMUL, ty, b.bind(NEG, b.bind(DIV, out, y)))
    t = add_tangents(b, left, right)
    return None if t is None else broadcast_to(b, t, out.type.shape)


DIV = _register("div", np.divide, "({0} / {1})", _div_jvp, flops=4.0, sparsity=pt.quotient)


def _pow_jvp(b, primals, tangents, params, out):
    (x, y), (tx, ty) = primals, tangents
    left = right = None
    if tx is not None:
        y_minus_1 = Lit(y.value - 1.0) if isinstance(y, Lit) else b.bind(SUB, y, 1.0)
        coef = b.bind(MUL, y, b.bind(POW, x, y_minus_1))
        left = b.bind(SMUL, tx, coef)
    if ty is not None:
        # d/dy x^y = log(x) x^y, taken as 0 where x == 0 (as JAX does): 0^y is flat in y.
        log_x = b.bind(SELECT, b.bind(EQ, x, 0.0), 0.0, b.bind(LOG, x))
        right = b.bind(SMUL, ty, b.bind(MUL, log_x, out))
    t = add_tangents(b, left, right)
    return None if t is None else broadcast_to(b, t, out.type.shape)


POW = _register("pow", np.power, "({0} ** {1})", _pow_jvp, flops=20.0)


def _atan2_jvp(b, primals, tangents, params, out):
    (y, x), (ty, tx) = primals, tangents
    r2 = b.bind(ADD, b.bind(MUL, x, x), b.bind(MUL, y, y))
    left = None if ty is None else b.bind(SMUL, ty, b.bind(DIV, x, r2))
    right = None if tx is None else b.bind(SMUL, tx, b.bind(NEG, b.bind(DIV, y, r2)))
    t = add_tangents(b, left, right)
    return None if t is None else broadcast_to(b, t, out.type.shape)


ATAN2 = _register("atan2", np.arctan2, "np.arctan2({0}, {1})", _atan2_jvp, flops=20.0)


def extremum(strict: Callable[[], Primitive]) -> JvpRule:
    """maximum/minimum: the tangent of the winner; ties split equally (SPEC §2.4)."""

    def jvp(b, primals, tangents, params, out):
        (x, y), (tx, ty) = primals, tangents
        if tx is None and ty is None:
            return None
        tx, ty = zero_if_none(tx), zero_if_none(ty)
        half = b.bind(MUL, 0.5, b.bind(ADD, tx, ty))
        tie_or_y = b.bind(SELECT, b.bind(strict(), y, x), ty, half)
        return broadcast_to(b, b.bind(SELECT, b.bind(strict(), x, y), tx, tie_or_y),
                            out.type.shape)

    return jvp


# piecewise linear: first derivatives 0, 1 or 1/2, no second derivative (pt.linear_elementwise)
MAXIMUM = _register("maximum", np.maximum, "np.maximum({0}, {1})", extremum(lambda: GT),
                    sparsity=LINEAR)
MINIMUM = _register("minimum", np.minimum, "np.minimum({0}, {1})", extremum(lambda: LT),
                    sparsity=LINEAR)


def _select_jvp(b, primals, tangents, params, out):
    mask = primals[0]
    _, ta, tb = tangents
    if ta is None and tb is None:
        return None
    return broadcast_to(b, b.bind(SELECT, mask, zero_if_none(ta), zero_if_none(tb)),
                        out.type.shape)


def _select_transpose(b, ct, ins, linear, params):
    mask, x, y = ins
    return [None,
            unbroadcast(b, b.bind(SELECT, mask, ct, 0.0), x.type.shape) if linear[1] else None,
            unbroadcast(b, b.bind(SELECT, mask, 0.0, ct), y.type.shape) if linear[2] else None]


SELECT = _register("select", np.where, "np.where({0}, {1}, {2})", _select_jvp,
                   _select_transpose, shape=select_shape, linear=True,
                   scalar="({1} if {0} else {2})", sparsity=LINEAR)


def _compare(name: str, ufunc: np.ufunc) -> Primitive:
    return _register(name, ufunc, _template(ufunc, 2), no_jvp, shape=compare_shape,
                     sparsity=pt.constant)


LT = _compare("lt", np.less)
LE = _compare("le", np.less_equal)
GT = _compare("gt", np.greater)
GE = _compare("ge", np.greater_equal)
EQ = _compare("eq", np.equal)
NE = _compare("ne", np.not_equal)


# ---- unary functions: value and tangent coefficient side by side ----

def _recip(b: Builder, x: Atom) -> Var:
    return b.bind(DIV, 1.0, x)


def _one_minus_square(b: Builder, x: Atom) -> Var:
    return b.bind(SUB, 1.0, b.bind(MUL, x, x))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def _relu_jvp(b, primals, tangents, params, out):
    (x,), (t,) = primals, tangents
    return None if t is None else b.bind(SELECT, b.bind(GT, x, 0.0), t, 0.0)


SIN = unary("sin", np.sin, lambda b, x, y: b.bind(COS, x))
COS = unary("cos", np.cos, lambda b, x, y: b.bind(NEG, b.bind(SIN, x)))
TAN = unary("tan", np.tan, lambda b, x, y: b.bind(ADD, 1.0, b.bind(MUL, y, y)))
ARCSIN = unary("arcsin", np.arcsin,
               lambda b, x, y: _recip(b, b.bind(SQRT, _one_minus_square(b, x))))
ARCCOS = unary("arccos", np.arccos,
               lambda b, x, y: b.bind(DIV, -1.0, b.bind(SQRT, _one_minus_square(b, x))))
ARCTAN = unary("arctan", np.arctan,
               lambda b, x, y: _recip(b, b.bind(ADD, 1.0, b.bind(MUL, x, x))))
SINH = unary("sinh", np.sinh, lambda b, x, y: b.bind(COSH, x))
COSH = unary("cosh", np.cosh, lambda b, x, y: b.bind(SINH, x))
TANH = unary("tanh", np.tanh, lambda b, x, y: _one_minus_square(b, y))
ARCSINH = unary("arcsinh", np.arcsinh,
                lambda b, x, y: _recip(b, b.bind(SQRT, b.bind(ADD, b.bind(MUL, x, x), 1.0))))
ARCCOSH = unary("arccosh", np.arccosh,
                lambda b, x, y: _recip(b, b.bind(SQRT, b.bind(SUB, b.bind(MUL, x, x), 1.0))))
ARCTANH = unary("arctanh", np.arctanh,
                lambda b, x, y: _recip(b, _one_minus_square(b, x)))
EXP = unary("exp", np.exp, lambda b, x, y: y)
EXPM1 = unary("expm1", np.expm1, lambda b, x, y: b.bind(ADD, y, 1.0))
LOG = unary("log", np.log, lambda b, x, y: _recip(b, x))
LOG1P = unary("log1p", np.log1p, lambda b, x, y: _recip(b, b.bind(ADD, x, 1.0)))
LOG2 = unary("log2", np.log2,
             lambda b, x, y: _recip(b, b.bind(MUL, x, float(np.log(2.0)))))
LOG10 = unary("log10", np.log10,
              lambda b, x, y: _recip(b, b.bind(MUL, x, float(np.log(10.0)))))
SQRT = unary("sqrt", np.sqrt, lambda b, x, y: b.bind(DIV, 0.5, y))
CBRT = unary("cbrt", np.cbrt, lambda b, x, y: _recip(b, b.bind(MUL, 3.0, b.bind(MUL, y, y))))
ABS = unary("abs", np.abs, lambda b, x, y: b.bind(SIGN, x), flops=1.0, sparsity=LINEAR)
SIGN = unary("sign", np.sign, None, flops=1.0)
FLOOR = unary("floor", np.floor, None, flops=1.0)
CEIL = unary("ceil", np.ceil, None, flops=1.0)
ROUND = unary("round", np.round, None, flops=1.0, numpy="np.round({0})", scalar="np.rint({0})")
SIGMOID = unary("sigmoid", sigmoid, lambda b, x, y: b.bind(MUL, y, b.bind(SUB, 1.0, y)),
                numpy="(1.0 / (1.0 + np.exp(-{0})))")
SOFTPLUS = unary("softplus", softplus, lambda b, x, y: b.bind(SIGMOID, x),
                 numpy="np.logaddexp(0.0, {0})")
ERF = unary("erf", special.erf,
            lambda b, x, y: b.bind(MUL, float(2.0 / np.sqrt(np.pi)),
                                   b.bind(EXP, b.bind(NEG, b.bind(MUL, x, x)))),
            numpy="erf({0})")
RELU = _register("relu", relu, "np.maximum({0}, 0.0)", _relu_jvp, sparsity=LINEAR)
