"""Seed: jax-higher-order-derivatives.md, "Stopping gradients" and "Per-example gradients".

TD(0) with a linear value function v_theta(s) = theta . s and the pseudo loss
L(theta) = -1/2 (r_t + v_theta(s_t) - v_theta(s_tm1))^2. Without stop_gradient the target
is differentiated too; with it, grad L is the TD(0) update [1.2, 2.4, -1.2] of the document.
Per-example gradients: `batch` names the data, theta is shared (JAX's in_axes=(None, 0, 0, 0)).
"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # run from a checkout

import numpy as np

import adcore

np.set_printoptions(precision=6, suppress=True)

naive = adcore.compile("""
value(th, s) = dot(th, s)
td_loss(th) = -0.5 * ((r_t + value(th, s_t) - value(th, s_tm1))^2)
td_loss(theta)
""")
td = adcore.compile("""
value(th, s) = dot(th, s)
td_loss(th) = -0.5 * ((stop_gradient(r_t + value(th, s_t)) - value(th, s_tm1))^2)
td_loss(theta)
""")
original = adcore.compile("""
value(th, s) = dot(th, s)
(r_t + value(theta, s_t) - value(theta, s_tm1)) * grad(value)(theta, s_tm1)
""")

at = {"theta": np.array([0.1, -0.1, 0.0]), "s_tm1": np.array([1.0, 2.0, -1.0]),
      "r_t": np.array(1.0), "s_t": np.array([2.0, 1.0, 0.0])}
print("naive grad (target differentiated):",
      naive.gradient(at=at, wrt=["theta"])["gradient"]["theta"])
print("with stop_gradient                :",
      td.gradient(at=at, wrt=["theta"])["gradient"]["theta"])
print("original TD(0) expression         :", original.evaluate(at=at)["value"])

# Per-example gradients: the same transition stacked twice, theta shared.
data = ["s_tm1", "r_t", "s_t"]
batched = {k: (np.stack([a, a]) if k in data else a) for k, a in at.items()}
per_example = td.gradient(at=batched, wrt=["theta"], batch=data)["gradient"]["theta"]
print("per-example gradients:\n", per_example)
