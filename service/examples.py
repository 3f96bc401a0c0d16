"""Request examples for /docs, taken from the seeds (JAX's higher-order derivatives notes,
the nested-AD and batched-Hessian threads). Each one runs as shipped; a test posts them all.
"""

from __future__ import annotations

from typing import Any

ROSENBROCK = "sum(100*(x[1:]-x[:-1]^2)^2 + (1-x[:-1])^2)"
TD_LOSS = "-0.5 * (stop_gradient(r_t + dot(theta, s_t)) - dot(theta, s_tm1))^2"
NET = "sigmoid(inputs @ W + b)"
NESTED = "f(y) = 1 / norm(y)\ng(v) = sum(v)^3\ng(grad(f)(x))"
# Chained constraints of a classic sparse test problem (Luksan and Vlcek's chained
# Rosenbrock with trigonometric-exponential constraints), and its Lagrangian.
CONSTRAINTS = ("3*x[1:-1]^3 + 2*x[2:] - 5 + sin(x[1:-1] - x[2:])*sin(x[1:-1] + x[2:]) "
               "+ 4*x[1:-1] - x[:-2]*exp(x[:-2] - x[1:-1]) - 3")
LAGRANGIAN = f"{ROSENBROCK} + sum(v * ({CONSTRAINTS}))"
# The Bratu problem's residual on a grid (5-point stencil): its Jacobian takes 5 colours.
BRATU = ("4*u[1:-1,1:-1] - u[:-2,1:-1] - u[2:,1:-1] - u[1:-1,:-2] - u[1:-1,2:] "
         "- 0.01*exp(u[1:-1,1:-1])")
X6 = [-1.2, 1.0, 0.5, -0.3, 0.8, 1.1]
U5 = [[0.0] * 5] + [[0.0, 0.1, 0.2, 0.1, 0.0]] * 3 + [[0.0] * 5]

TD_AT = {"theta": [0.1, -0.1, 0.0], "s_tm1": [1.0, 2.0, -1.0], "r_t": 1.0,
         "s_t": [2.0, 1.0, 0.0]}
NET_AT = {"inputs": [[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]],
          "W": [[0.1, 0.2], [-0.3, 0.4], [0.5, -0.6]], "b": [0.0, 0.1]}

REGISTER: dict[str, Any] = {"program": ROSENBROCK}
# x = [-1.2, 1, 1] as tesseract-core's base64 array object (little-endian float64 bytes)
X_BASE64 = {"object_type": "array", "shape": [3], "dtype": "float64",
            "data": {"buffer": "MzMzMzMz878AAAAAAADwPwAAAAAAAPA/", "encoding": "base64"}}


def _ex(summary: str, **body: Any) -> dict[str, Any]:
    return {"summary": summary, "value": body}


OPERATIONS: dict[str, dict[str, dict[str, Any]]] = {
    "evaluate": {
        "nested": _ex("g(grad(f)(x)) with f = 1/norm, g = sum^3 (nested AD seed)",
                      program=NESTED, at={"x": [1.0, 2.0, 3.0]}),
        "rosenbrock": _ex("Rosenbrock at (-1.2, 1, 1)", program=ROSENBROCK,
                          at={"x": [-1.2, 1.0, 1.0]}),
    },
    "gradient": {
        "rosenbrock": _ex("Rosenbrock gradient", program=ROSENBROCK,
                          at={"x": [-1.2, 1.0, 1.0]}),
        "td0": _ex("TD(0) update: stop_gradient on the target, wrt theta -> [1.2, 2.4, -1.2]",
                   program=TD_LOSS, at=TD_AT, wrt=["theta"]),
        "td0-per-example": _ex(
            "Per-example TD(0) gradients: transitions batched, theta shared",
            program=TD_LOSS, wrt=["theta"], batch=["s_tm1", "r_t", "s_t"],
            at={"theta": TD_AT["theta"], "s_tm1": [[1.0, 2.0, -1.0], [0.0, 1.0, 1.0]],
                "r_t": [1.0, 0.5], "s_t": [[2.0, 1.0, 0.0], [1.0, 1.0, 1.0]]}),
        "batched-rosenbrock": _ex("Rosenbrock gradient at two points at once",
                                  program=ROSENBROCK, batch=["x"],
                                  at={"x": [[-1.2, 1.0, 1.0], [1.0, 1.0, 1.0]]}),
        "rosenbrock-base64": _ex("Arrays as base64 both ways (tesseract-core's array objects)",
                                 program=ROSENBROCK, at={"x": X_BASE64}, arrays="base64"),
        "rosenbrock-json-buffer": _ex("An array object with a json buffer, float32 read as "
                                      "float64", program=ROSENBROCK, at={"x": {
                                          "object_type": "array", "shape": [3],
                                          "dtype": "float32", "data": {
                                              "buffer": [-1.5, 1.0, 1.0], "encoding": "json"}}}),
        "nested": _ex("Gradient through an inner grad (forward-over-reverse)",
                      program=NESTED, at={"x": [1.0, 2.0, 3.0]}),
    },
    "jacobian": {
        "layer": _ex("Jacobian of a sigmoid layer w.r.t. its bias", program=NET, at=NET_AT,
                     wrt=["b"]),
        "layer-reverse": _ex("The same in reverse mode, w.r.t. W", program=NET, at=NET_AT,
                             wrt=["W"], mode="reverse"),
        "sparse-bratu": _ex("Sparse: the Bratu residual's Jacobian on a 5x5 grid, 5-point "
                            "stencil: COO, 5 colours (see meta.coloring)", program=BRATU,
                            at={"u": U5}, sparse=True),
        "sparse-constraints": _ex("Sparse: Jacobian of chained constraints (3 nonzeros a "
                                  "row)", program=CONSTRAINTS, at={"x": X6}, sparse=True),
    },
    "hessian": {
        "dot": _ex("Hessian of dot(x, x): 2 I", program="dot(x, x)",
                   at={"x": [1.0, 2.0, 3.0]}),
        "rosenbrock-diagonal": _ex("Only the diagonal, never the full matrix",
                                   program=ROSENBROCK, at={"x": [-1.2, 1.0, 1.0]},
                                   diagonal=True),
        "sparse-rosenbrock": _ex("Sparse: the tridiagonal Rosenbrock Hessian from 3 HVPs, "
                                 "lower triangle (IPOPT's triplets)", program=ROSENBROCK,
                                 at={"x": X6}, sparse=True, triangle="lower"),
        "sparse-lagrangian": _ex("Sparse: Hessian of a Lagrangian w.r.t. x, multipliers v "
                                 "held fixed (for an optimizer)", program=LAGRANGIAN,
                                 at={"x": X6, "v": [1.0, -0.5, 0.25, 2.0]}, wrt=["x"],
                                 sparse=True),
    },
    "hvp": {
        "rosenbrock": _ex("Hessian-vector product of Rosenbrock", program=ROSENBROCK,
                          at={"x": [-1.2, 1.0, 1.0]}, v={"x": [1.0, 0.0, 0.0]}),
        "rosenbrock-base64": _ex("The same with the point and the tangent as base64",
                                 program=ROSENBROCK, at={"x": X_BASE64},
                                 v={"x": {**X_BASE64, "data": {
                                     "buffer": "AAAAAAAA8D8AAAAAAAAAAAAAAAAAAAAA",
                                     "encoding": "base64"}}}, arrays="base64"),
    },
    "jvp": {
        "layer": _ex("Directional derivative of a sigmoid layer along its bias", program=NET,
                     at=NET_AT, wrt=["b"], v={"b": [1.0, 0.0]}),
    },
    "vjp": {
        "layer": _ex("Cotangent pulled back to W", program=NET, at=NET_AT, wrt=["W"],
                     u=[[1.0, 0.0], [0.0, 1.0]]),
    },
    "laplacian": {
        "harmonic": _ex("1/|x| is harmonic in 3-D: the Laplacian is 0", program="1 / norm(x)",
                        at={"x": [1.0, 2.0, 3.0]}),
    },
    "sparsity": {
        "rosenbrock-hessian": _ex("The Rosenbrock Hessian's pattern (tridiagonal) and its "
                                  "star colouring; only shapes matter", program=ROSENBROCK,
                                  at={"x": X6}, of="hessian"),
        "bratu-jacobian": _ex("The Bratu Jacobian's pattern and its colouring", program=BRATU,
                              at={"u": U5}, of="jacobian"),
    },
}

# POST /v1/derive: the derivative as programs in the language
TANH = "sum(tanh(M @ x))"
DERIVE_BODY: dict[str, Any] = {"program": NESTED, "operation": "gradient",
                               "shapes": {"x": [3]}}
DERIVE: dict[str, dict[str, Any]] = {
    "nested": _ex("Gradient of g(grad(f)(x)) as a program (nested AD seed)", **DERIVE_BODY),
    "td0": _ex("The TD(0) update as a program: stop_gradient stays in the text",
               program=TD_LOSS, operation="gradient", wrt=["theta"], at=TD_AT),
    "tanh-hessian": _ex("Hessian blocks of sum(tanh(M x)), keyed by both inputs",
                        program=TANH, operation="hessian", shapes={"M": [2, 3], "x": [3]}),
    "hvp": _ex("A Hessian-vector product: the direction is the input v_x",
               program=ROSENBROCK, operation="hvp", shapes={"x": [3]}),
    "latex": _ex("With LaTeX, for a program of scalars", program="sin(x) * y + exp(x * y)",
                 operation="gradient", shapes={"x": [], "y": []}, format="latex"),
    "vjp": _ex("A vector-Jacobian product: the cotangent is the input u", program=NET,
               operation="vjp", wrt=["W"], shapes={"inputs": [2, 3], "W": [3, 2], "b": [2]}),
}
