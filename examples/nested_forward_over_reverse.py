"""Seed: nested-ad-forward-over-reverse.txt (Julia discourse, "Nested AD with Lux etc").

h(x) = g(grad f(x)) with f(x) = 1/norm(x) and g(v) = sum(v)^3. The thread needs
ForwardDiff-over-Zygote by hand; here the gradient of a program that calls `grad` is one
request, and we repeat the thread's check: grad h . dx against h(x + dx) - h(x).
"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # run from a checkout

import numpy as np

import adcore

np.set_printoptions(precision=6, suppress=True)
rng = np.random.default_rng(0)

nested = adcore.compile("""
f(y) = 1 / norm(y)       # R^n -> R
g(v) = sum(v)^3          # R^n -> R
g(grad(f)(x))            # h(x)
""")
x = rng.normal(size=5)
dx = rng.normal(size=5) * 1e-8

out = nested.gradient(at={"x": x})
print("x        =", x)
print("h(x)     =", f"{out['value']:.6f}")
print("grad h(x)=", out["gradient"]["x"])

# The thread's finite-difference check: a directional derivative against a difference.
directional = out["gradient"]["x"] @ dx
difference = nested.evaluate(at={"x": x + dx})["value"] - out["value"]
print("grad h(x) . dx    =", f"{directional:.6e}")
print("h(x + dx) - h(x)  =", f"{difference:.6e}")

# grad f itself, in the language, against its closed form -x / |x|^3.
grad_f = adcore.compile("f(y) = 1 / norm(y)\ngrad(f)(x)").evaluate(at={"x": x})["value"]
print("grad f(x)         =", grad_f)
print("-x / |x|^3        =", -x / np.linalg.norm(x) ** 3)
