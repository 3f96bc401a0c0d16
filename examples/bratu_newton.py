"""The Bratu problem by Newton's method with a sparse Jacobian from Nabla (issue 10).

-laplacian(u) = lambda e^u on the unit square, u = 0 on the boundary, discretized with the
5-point stencil on an N x N grid (spacing h = 1 / (N - 1)); for each interior point

    F(u) = 4 u[i,j] - u[i-1,j] - u[i+1,j] - u[i,j-1] - u[i,j+1] - c e^u[i,j],  c = lambda h^2.

The residual's Jacobian with respect to the whole grid has 5 nonzeros a row and takes 5
colours, whatever N: 5 forward passes instead of N^2. Newton restricts it to the interior
columns and solves with scipy.sparse.linalg. Values at N = 100, lambda = 6 (below the
critical lambda ~ 6.81 of the square, so the lower solution branch exists).
"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # run from a checkout

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import spsolve

import adcore

N, LAMBDA = 100, 6.0
residual = adcore.compile("4*u[1:-1,1:-1] - u[:-2,1:-1] - u[2:,1:-1] - u[1:-1,:-2]"
                          " - u[1:-1,2:] - c*exp(u[1:-1,1:-1])")
at = {"u": np.zeros((N, N)), "c": LAMBDA / (N - 1) ** 2}
interior = np.arange(N * N).reshape(N, N)[1:-1, 1:-1].ravel()

for iteration in range(1, 20):
    out = residual.jacobian(at=at, wrt=["u"], sparse=True)
    F = out["value"].ravel()
    block = out["jacobian"]["u"]  # rows: interior points, columns: every grid point
    if iteration == 1:
        facts = out["coloring"]
        print(f"Jacobian {block['shape'][0]} x {block['shape'][1]}: {facts['nonzeros']} "
              f"nonzeros, {facts['colors']} colours ({facts['mode']}, "
              f"lower bound {facts['lower_bound']})")
    J = sparse.coo_array((block["data"], (block["row"], block["col"])),
                         shape=block["shape"]).tocsc()[:, interior]
    step = spsolve(J.tocsc(), -F)
    at["u"].ravel()[interior] += step
    print(f"Newton step {iteration}: |F| = {np.abs(F).max():.1e}, |step| = "
          f"{np.abs(step).max():.1e}")
    if np.abs(step).max() < 1e-8:  # quadratic convergence: the next step is ~1e-15
        break

print(f"max u = {at['u'].max():.6f} at the centre: {at['u'][N // 2, N // 2]:.6f}")
