"""Seed: batched-gradients-hessians.txt (Julia discourse, "Batched gradients and hessians
with Flux").

model(M, x) = tanh(M x), M 2x4 shared, D = 8 points x. Per point: the Jacobian in x, the
Hessians in x (one per output), their diagonals, and the Jacobian in M; then the gradient in
M of a loss built from the per-point Hessians, the step the thread could only do with Enzyme.
`batch=["x"]` maps over the points; no loop.
"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # run from a checkout

import numpy as np

import adcore

np.set_printoptions(precision=4, suppress=True)
rng = np.random.default_rng(0)
A, C, D = 2, 4, 8
M, x = rng.normal(size=(A, C)), rng.normal(size=(D, C))  # x: one point per row
at = {"M": M, "x": x}

model = adcore.compile("tanh(M @ x)")
jac_x = model.jacobian(at=at, wrt=["x"], batch=["x"])["jacobian"]["x"]
hess = model.hessian(at=at, wrt=["x"], batch=["x"])["hessian"]["x"]["x"]
diag = model.hessian(at=at, wrt=["x"], batch=["x"], diagonal=True)["hessian_diagonal"]["x"]
jac_M = model.jacobian(at=at, wrt=["M"], batch=["x"])["jacobian"]["M"]
print("dY_a/dx_c per point, shape (D, A, C):", jac_x.shape)
print(jac_x[0])
print("d2Y_a/dx_c1 dx_c2 per point, shape (D, A, C, C):", hess.shape)
print(hess[0])
print("Hessian diagonals, shape (D, A, C):", diag.shape)
print(diag[0])
print("dY_a/dM per point, shape (D, A, A, C):", jac_M.shape)

# The loss of the thread: the sum over points, outputs and (c1, c2) of the Hessians, as a
# program of M; its gradient in M is the sum of the per-point gradients.
loss = adcore.compile("f(z) = tanh(M @ z)\nsum(jacobian(jacobian(f))(x))")
per_point = loss.gradient(at=at, wrt=["M"], batch=["x"])
print("loss =", f"{per_point['value'].sum():.6f}")
print("d loss / dM:\n", per_point["gradient"]["M"].sum(axis=0))

# The same loss without `batch`: all points as one (D, C) input X. The Jacobian of the
# Jacobian then also holds the cross-point blocks, which are zero, so the sum is unchanged.
whole = adcore.compile("f(Z) = tanh(Z @ M.T)\nsum(jacobian(jacobian(f))(X))")
out = whole.gradient(at={"M": M, "X": x}, wrt=["M"])
print("loss =", f"{out['value']:.6f}", "(one program over all points)")
print("d loss / dM:\n", out["gradient"]["M"])
