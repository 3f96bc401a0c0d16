"""Seed: jax-higher-order-derivatives.md, "Taking gradients (part 2)".

Higher-order derivatives by stacking transformations: the derivatives of
f(x) = x^3 + 2x^2 - 3x + 1, and the Hessian of f(x) = dot(x, x) at [1, 2, 3], which is 2I,
both as the `hessian` operation and inside the language as JAX writes it, jacfwd(grad(f)).
"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # run from a checkout

import numpy as np

import adcore

np.set_printoptions(precision=6, suppress=True)

# One variable: f', f'', f''' at x = 1 (closed forms 3x^2 + 4x - 3 = 4, 6x + 4 = 10, 6).
cubic = adcore.compile("""
f(y) = y^3 + 2*y^2 - 3*y + 1
[grad(f)(x), grad(grad(f))(x), grad(grad(grad(f)))(x)]
""")
print("f', f'', f''' at 1:", cubic.evaluate(at={"x": np.array(1.0)})["value"])

x = np.array([1.0, 2.0, 3.0])
dot = adcore.compile("dot(x, x)")
print("hessian operation:\n", dot.hessian(at={"x": x})["hessian"]["x"]["x"])

in_language = adcore.compile("f(y) = dot(y, y)\njacfwd(grad(f))(x)")
print("jacfwd(grad(f))(x) in the language:\n", in_language.evaluate(at={"x": x})["value"])
