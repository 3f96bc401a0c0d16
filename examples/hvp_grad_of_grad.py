"""Seed: jax-higher-order-derivatives.md, "Hessian-vector products with grad-of-grad".

    def hvp(f, x, v):
        return jax.grad(lambda x: jnp.vdot(jax.grad(f)(x), v))(x)

The inner function closes over v (lexical closure, no perturbation confusion). We compare
it with the `hvp` builtin, the `hvp` operation and the dense Hessian times v.
"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # run from a checkout

import numpy as np

import adcore

np.set_printoptions(precision=6, suppress=True)
rng = np.random.default_rng(0)
x, v = rng.normal(size=4), rng.normal(size=4)

grad_of_grad = adcore.compile("""
f(y) = sum(sin(y)) * dot(y, y)
g(y) = dot(grad(f)(y), v)     # closes over the input v
grad(g)(x)
""")
builtin = adcore.compile("f(y) = sum(sin(y)) * dot(y, y)\nhvp(f, x, v)")
program = adcore.compile("sum(sin(x)) * dot(x, x)")

print("grad-of-grad hvp :", grad_of_grad.evaluate(at={"x": x, "v": v})["value"])
print("hvp builtin      :", builtin.evaluate(at={"x": x, "v": v})["value"])
print("hvp operation    :", program.hvp(at={"x": x}, v={"x": v})["hvp"]["x"])
print("hessian @ v      :", program.hessian(at={"x": x})["hessian"]["x"]["x"] @ v)
