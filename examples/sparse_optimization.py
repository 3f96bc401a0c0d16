"""A constrained optimization with sparse derivatives from Nabla, through the client (issue 10).

Luksan and Vlcek's chained Rosenbrock function with trigonometric-exponential constraints,
n = 200 variables and n - 2 equality constraints:

    minimize   f(x) = sum_i 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2
    subject to c_k(x) = 3 x[k+1]^3 + 2 x[k+2] - 5 + sin(x[k+1] - x[k+2]) sin(x[k+1] + x[k+2])
                        + 4 x[k+1] - x[k] exp(x[k] - x[k+1]) - 3 = 0.

scipy.optimize.minimize(method="trust-constr") gets every derivative as a sparse matrix:
the objective's gradient and Hessian (tridiagonal: 3 colours), the constraints' Jacobian
(3 nonzeros a row) and the Hessian of v . c(x) for the multipliers v, all computed by the
server from coloured derivative passes, never as dense n x n arrays.

By default the example serves the API in-process (no network); give a URL to use a running
server: python3 examples/sparse_optimization.py http://127.0.0.1:8000
"""
import pathlib
import sys
import tempfile
import warnings

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # run from a checkout

import numpy as np
from scipy.optimize import NonlinearConstraint, minimize

from service.client import Client
from service.examples import CONSTRAINTS, ROSENBROCK

N = 200
WEIGHTED = f"sum(v * ({CONSTRAINTS}))"  # v . c(x): its Hessian in x is the constraint part


def solve(nabla: Client) -> None:
    objective, constraints = nabla.compile(ROSENBROCK), nabla.compile(CONSTRAINTS)
    weighted = nabla.compile(WEIGHTED)
    facts = {}

    def gradient(x):
        return objective.gradient(at={"x": x})["gradient"]["x"]

    def hessian(x):
        out = objective.hessian(at={"x": x}, sparse=True)
        facts["objective Hessian"] = out["meta"]["coloring"]
        return out["hessian"]["x"]["x"].tocsr()

    def jacobian(x):
        out = constraints.jacobian(at={"x": x}, sparse=True)
        facts["constraint Jacobian"] = out["meta"]["coloring"]
        return out["jacobian"]["x"].tocsr()

    def constraint_hessian(x, v):
        out = weighted.hessian(at={"x": x, "v": v}, wrt=["x"], sparse=True)
        facts["Hessian of v . c"] = out["meta"]["coloring"]
        return out["hessian"]["x"]["x"].tocsr()

    equality = NonlinearConstraint(lambda x: constraints.evaluate(at={"x": x})["value"], 0.0,
                                   0.0, jac=jacobian, hess=constraint_hessian)
    x0 = np.where(np.arange(N) % 2 == 0, -1.2, 1.0)
    result = minimize(lambda x: objective.evaluate(at={"x": x})["value"], x0, jac=gradient,
                      hess=hessian, constraints=[equality], method="trust-constr",
                      options={"gtol": 1e-9, "xtol": 1e-12, "maxiter": 500})
    for name, coloring in facts.items():
        print(f"{name}: {coloring['nonzeros']} nonzeros in {coloring['colors']} colours "
              f"({coloring['mode']}, lower bound {coloring['lower_bound']})")
    violation = np.abs(constraints.evaluate(at={"x": result.x})["value"]).max()
    print(f"converged: {result.success} in {result.nit} iterations ({result.message})")
    print(f"f(x*) = {result.fun:.6f}, max |c(x*)| < 1e-8: {violation < 1e-8}")
    print("x*[:6] =", np.round(result.x[:6], 5))


if __name__ == "__main__":
    if len(sys.argv) > 1:
        with Client(sys.argv[1]) as remote:
            solve(remote)
    else:
        warnings.filterwarnings("ignore", message=".*httpx2")  # starlette's, not ours
        from fastapi.testclient import TestClient

        from service.main import create_app
        from service.settings import Settings

        with tempfile.TemporaryDirectory() as data, \
                TestClient(create_app(Settings(data_dir=data, gc_freeze=False))) as http:
            solve(Client("http://testserver", http))
