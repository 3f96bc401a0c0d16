"""The references a generated program runs on: numpy (no in-language derivatives: those
are what is under test) and JAX (everything, for the differential run of bench/fuzz.py).
Each follows numpy's semantics, which the language takes (README, Builtins)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


class Unsupported(Exception):
    """The backend cannot run this program (numpy and in-language derivatives)."""


class NumpyBackend:
    name = "numpy"

    def __init__(self) -> None:
        from scipy import special

        self.xp = np
        self.erf = special.erf
        self.logsumexp = special.logsumexp

    def sigmoid(self, x: Any) -> Any:
        return 1 / (1 + self.xp.exp(-x))

    def softplus(self, x: Any) -> Any:
        return self.xp.logaddexp(0.0, x)

    def softmax(self, x: Any, axis: int) -> Any:
        shifted = self.xp.exp(x - self.xp.max(x, axis=axis, keepdims=True))
        return shifted / self.xp.sum(shifted, axis=axis, keepdims=True)

    def norm(self, x: Any, axis: int | None) -> Any:
        return self.xp.sqrt(self.xp.sum(x * x, axis=axis))

    def abs(self, x: Any) -> Any:
        return self.xp.abs(x)

    def relu(self, x: Any) -> Any:
        return self.xp.maximum(x, 0.0)

    def stop_gradient(self, x: Any) -> Any:
        return x

    def derivative(self, kind: str, f: Callable[..., Any], args: Sequence[Any],
                   argnum: int) -> Any:
        raise Unsupported("in-language derivatives need JAX")


class JaxBackend(NumpyBackend):
    """float64 JAX: jax.grad, jacfwd, jacrev, hessian, jvp for the language's derivatives.

    Where the language's documented conventions differ from JAX's (README, Derivative
    conventions), this reference follows the language, so that any difference left is a
    bug: abs has derivative 0 at 0 (JAX: 1), norm has gradient 0 at 0 (JAX: NaN), and the
    derivatives of a non-finite value are NaN (JAX: whatever IEEE gives; for the top-level
    operations bench/fuzz.py classifies those instead). The other conventions (relu at 0,
    ties of max, min, maximum, minimum, clip at its bounds) are JAX's own."""

    name = "jax"

    def __init__(self) -> None:
        import jax
        import jax.numpy as jnp
        from jax.scipy import special

        jax.config.update("jax_enable_x64", True)
        self.jax, self.xp = jax, jnp
        self.erf = special.erf
        self.logsumexp = special.logsumexp
        self.abs = _abs(jax, jnp)
        self._norm = _norm(jax, jnp)

    def norm(self, x: Any, axis: int | None) -> Any:
        return self._norm(x, axis)

    def softplus(self, x: Any) -> Any:
        return self.jax.nn.softplus(x)

    def stop_gradient(self, x: Any) -> Any:
        return self.jax.lax.stop_gradient(x)

    def relu(self, x: Any) -> Any:
        return self.jax.nn.relu(x)  # derivative 0 at 0 (jnp.maximum(x, 0) splits the tie)

    def derivative(self, kind: str, f: Callable[..., Any], args: Sequence[Any],
                   argnum: int) -> Any:
        """The language's derivative, with its convention for non-finite values: every
        derivative of a non-finite output element is NaN, at every order."""
        jax = self.jax
        first = self.guarded(f, jax.jacrev(f, argnums=argnum))  # gradient or Jacobian
        if kind in ("grad", "jacobian", "jacfwd", "jacrev"):
            return first(*args)
        if kind == "hessian":
            return self.guarded(first, jax.jacfwd(first, argnums=argnum))(*args)
        x, v = args
        if kind == "jvp":
            value, tangent = jax.jvp(f, (x,), (v,))
            return self.guard(value, tangent)
        assert kind == "hvp"
        gradient, tangent = jax.jvp(first, (x,), (v,))
        return self.guard(gradient, tangent)

    def guarded(self, f: Callable[..., Any], derivative: Callable[..., Any]
                ) -> Callable[..., Any]:
        return lambda *args: self.guard(f(*args), derivative(*args))

    def guard(self, value: Any, derivative: Any) -> Any:
        """NaN where `value`'s element (the leading axes of `derivative`) is not finite."""
        jnp = self.xp
        finite = jnp.isfinite(value)
        finite = jnp.reshape(finite, finite.shape + (1,) * (jnp.ndim(derivative)
                                                            - finite.ndim))
        return jnp.where(finite, derivative, jnp.nan)


def _abs(jax: Any, jnp: Any) -> Callable[[Any], Any]:
    @jax.custom_jvp
    def abs_(x: Any) -> Any:
        return jnp.abs(x)

    abs_.defjvp(lambda primals, tangents: (abs_(primals[0]), jnp.sign(primals[0]) * tangents[0]))
    return abs_


def _norm(jax: Any, jnp: Any) -> Callable[[Any, int | None], Any]:
    from functools import partial

    @partial(jax.custom_jvp, nondiff_argnums=(1,))
    def norm(x: Any, axis: int | None) -> Any:
        return jnp.sqrt(jnp.sum(x * x, axis=axis))

    @norm.defjvp
    def norm_jvp(axis: int | None, primals: Any, tangents: Any) -> Any:
        (x,), (t,) = primals, tangents
        n = norm(x, axis)
        wide = n if axis is None else jnp.expand_dims(n, axis)
        safe = jnp.where(wide == 0, 1.0, wide)
        direction = jnp.where(wide == 0, 0.0, x / safe)
        return n, jnp.sum(direction * t, axis=axis)

    return norm
