"""Seed: jax-higher-order-derivatives.md, "Higher-order derivative applications" (MAML).

The meta-loss is the loss after one SGD step; its gradient differentiates through grad.
loss(p) = mean((X p - y)^2) is quadratic, so the SGD step is affine:
p' = A p + (2 lr/m) X^T y with A = I - (2 lr/m) X^T X, and grad meta(p) = A grad loss(p').
"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # run from a checkout

import numpy as np

import adcore

np.set_printoptions(precision=6, suppress=True)
rng = np.random.default_rng(0)
m, n, lr = 20, 5, 0.01
X, y, p = rng.normal(size=(m, n)), rng.normal(size=m), rng.normal(size=n)

meta = adcore.compile(
    "loss(p) = mean((X @ p - y)^2); meta(p) = loss(p - 0.01 * grad(loss)(p)); meta(p)")
out = meta.gradient(at={"X": X, "y": y, "p": p}, wrt=["p"])
print("meta-loss         :", f"{out['value']:.6f}")
print("meta-gradient     :", out["gradient"]["p"])

A = np.eye(n) - 2 * lr / m * X.T @ X
p_step = A @ p + 2 * lr / m * X.T @ y
print("closed form       :", A @ (2 / m * X.T @ (X @ p_step - y)))
