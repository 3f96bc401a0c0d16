"""Seed: jax-higher-order-derivatives.md, "Jacobians and Hessians using jacfwd and jacrev".

predict(W, b, inputs) = sigmoid(inputs @ W + b) on the document's 4x3 toy dataset. JAX draws
W, b with jax.random; we draw them with numpy (seed 0). Closed forms, p = predict:
dp/dW = p(1-p) inputs, dp/db = p(1-p), d2p/dW2 = p(1-p)(1-2p) inputs_i,j inputs_i,k.
"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # run from a checkout

import numpy as np

import adcore

np.set_printoptions(precision=6, suppress=True)
rng = np.random.default_rng(0)

inputs = np.array([[0.52, 1.12, 0.77],
                   [0.88, -1.08, 0.15],
                   [0.52, 0.06, -1.30],
                   [0.74, -2.49, 1.39]])
W, b = rng.normal(size=3), rng.normal(size=())
at = {"inputs": inputs, "W": W, "b": b}

# The document's sigmoid via tanh; the builtin `sigmoid` gives the same numbers.
predict = adcore.compile("s(z) = 0.5 * (tanh(z / 2) + 1)\ns(inputs @ W + b)")

J = predict.jacobian(at=at, wrt=["W"], mode="forward")["jacobian"]["W"]
print("jacfwd result, with shape", J.shape)
print(J)
J = predict.jacobian(at=at, wrt=["W"], mode="reverse")["jacobian"]["W"]
print("jacrev result, with shape", J.shape)
print(J)

# Several inputs at once (the document's dict of parameters): wrt W and b.
for name, jac in predict.jacobian(at=at, wrt=["W", "b"], mode="reverse")["jacobian"].items():
    print(f"Jacobian from {name} to logits is")
    print(jac)

H = predict.hessian(at=at, wrt=["W"])["hessian"]["W"]["W"]
print("hessian, with shape", H.shape)
print(H)

# In the language, as the document composes them: jacfwd(jacrev(f)).
nested = adcore.compile("s(z) = 0.5 * (tanh(z / 2) + 1)\nf(w) = s(inputs @ w + b)\n"
                        "jacfwd(jacrev(f))(W)")
print("max |jacfwd(jacrev(f))(W) - hessian| =",
      np.abs(nested.evaluate(at=at)["value"] - H).max())
