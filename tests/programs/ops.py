"""The operations generated programs are made of: a template in the language and the same
computation for a backend (`be.xp` is numpy or jax.numpy). Smooth ones keep their
arguments where they are defined and their values moderate (log(1 + x^2), exp(0.5 x))."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Compute = Callable[..., Any]

UNARY: tuple[tuple[str, Compute], ...] = (
    ("sin({0})", lambda be, a: be.xp.sin(a)),
    ("cos({0})", lambda be, a: be.xp.cos(a)),
    ("tanh({0})", lambda be, a: be.xp.tanh(a)),
    ("arctan({0})", lambda be, a: be.xp.arctan(a)),
    ("arcsinh({0})", lambda be, a: be.xp.arcsinh(a)),
    ("sinh({0})", lambda be, a: be.xp.sinh(a)),
    ("cosh(0.5 * {0})", lambda be, a: be.xp.cosh(0.5 * a)),
    ("sigmoid({0})", lambda be, a: be.sigmoid(a)),
    ("softplus({0})", lambda be, a: be.softplus(a)),
    ("erf({0})", lambda be, a: be.erf(a)),
    ("exp(0.5 * {0})", lambda be, a: be.xp.exp(0.5 * a)),
    ("expm1({0})", lambda be, a: be.xp.expm1(a)),
    ("log(1 + {0} ^ 2)", lambda be, a: be.xp.log(1 + a**2)),
    ("log1p({0} * {0})", lambda be, a: be.xp.log1p(a * a)),
    ("sqrt(1 + {0} ^ 2)", lambda be, a: be.xp.sqrt(1 + a**2)),
    ("square({0})", lambda be, a: a * a),
    ("({0} ^ 3)", lambda be, a: a**3),
    ("((1 + {0} ^ 2) ^ 0.75)", lambda be, a: (1 + a**2) ** 0.75),
    ("(-{0})", lambda be, a: -a),
)

BINARY: tuple[tuple[str, Compute], ...] = (
    ("({0} + {1})", lambda be, a, b: a + b),
    ("({0} - {1})", lambda be, a, b: a - b),
    ("({0} * {1})", lambda be, a, b: a * b),
    ("({0} / (1 + {1} ^ 2))", lambda be, a, b: a / (1 + b**2)),
    ("atan2({0}, 2 + {1})", lambda be, a, b: be.xp.arctan2(a, 2 + b)),
    ("pow(1 + {0} ^ 2, {1})", lambda be, a, b: (1 + a**2) ** b),
)

# (template, computation, operands): derivatives that are not everywhere those of the values
# (kinks; stop_gradient, whose derivative is 0 by definition).
KINKED: tuple[tuple[str, Compute, int], ...] = (
    ("stop_gradient({0})", lambda be, a: be.stop_gradient(a), 1),
    ("abs({0})", lambda be, a: be.abs(a), 1),
    ("relu({0})", lambda be, a: be.relu(a), 1),
    ("maximum({0}, {1})", lambda be, a, b: be.xp.maximum(a, b), 2),
    ("minimum({0}, {1})", lambda be, a, b: be.xp.minimum(a, b), 2),
    ("clip({0}, -0.5, 0.5)", lambda be, a: be.xp.clip(a, -0.5, 0.5), 1),
    ("where({0} > {1}, {2}, {3})", lambda be, c, d, a, b: be.xp.where(c > d, a, b), 4),
)

# (name, computation(be, array, axis or None for all), smooth)
REDUCTIONS: tuple[tuple[str, Compute, bool], ...] = (
    ("sum", lambda be, a, axis: be.xp.sum(a, axis=axis), True),
    ("mean", lambda be, a, axis: be.xp.mean(a, axis=axis), True),
    ("prod", lambda be, a, axis: be.xp.prod(a, axis=axis), True),
    ("logsumexp", lambda be, a, axis: be.logsumexp(a, axis=axis), True),
    ("norm", lambda be, a, axis: be.norm(a, axis), True),
    ("max", lambda be, a, axis: be.xp.max(a, axis=axis), False),
    ("min", lambda be, a, axis: be.xp.min(a, axis=axis), False),
)
