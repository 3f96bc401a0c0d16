"""Seed: jax-higher-order-derivatives.md, "Straight-through estimator using stop_gradient".

round has derivative 0 everywhere; x - stop_gradient(x) + stop_gradient(round(x)) has the
value of round(x) (the zero is exact, Sterbenz) and derivative exactly 1.
"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # run from a checkout

import numpy as np

import adcore

f = adcore.compile("round(x)")
straight_through_f = adcore.compile("x - stop_gradient(x) + stop_gradient(round(x))")
at = {"x": np.array(3.2)}

print("f(x):", f.evaluate(at=at)["value"])
print("straight_through_f(x):", straight_through_f.evaluate(at=at)["value"])
print("grad(f)(x):", f.gradient(at=at)["gradient"]["x"])
print("grad(straight_through_f)(x):", straight_through_f.gradient(at=at)["gradient"]["x"])

# The same inside the language, as a function that is differentiated.
inner = adcore.compile("st(y) = y - stop_gradient(y) + stop_gradient(round(y))\ngrad(st)(x)")
print("grad(st)(x) in the language:", inner.evaluate(at=at)["value"])
