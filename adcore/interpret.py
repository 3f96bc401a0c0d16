"""The reference interpreter: evaluates IR equation by equation with each primitive's `impl`.
Codegen is tested against it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .ir import Atom, Function, Lit, Var


def interpret(fn: Function, args: Sequence[np.ndarray],
              free: Mapping[Var, np.ndarray] | None = None) -> list[np.ndarray]:
    env: dict[Var, np.ndarray] = dict(free or {})
    env.update(zip(fn.inputs, (np.asarray(a, dtype=np.float64) for a in args)))

    def read(atom: Atom) -> np.ndarray:
        return np.asarray(atom.value) if isinstance(atom, Lit) else env[atom]

    with np.errstate(all="ignore"):
        for eqn in fn.eqns:
            value = eqn.prim.impl(*(read(a) for a in eqn.ins), **eqn.params)
            dtype = bool if eqn.out.type.dtype == "bool" else np.float64
            env[eqn.out] = np.asarray(value, dtype=dtype)
    return [np.asarray(read(a), dtype=np.float64) for a in fn.outputs]
