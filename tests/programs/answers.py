"""Reading answers, shared by the metamorphic suite and the differential run against JAX."""

from __future__ import annotations

from typing import Any

import numpy as np


def dense(block: dict[str, Any]) -> np.ndarray:
    """A COO block (`sparse: true`) as the dense matrix it stands for."""
    out = np.zeros(block["shape"])
    np.add.at(out, (block["row"], block["col"]), block["data"])
    return out


def largest(*arrays: Any) -> float:
    """The largest finite magnitude over arrays: the scale of a whole answer, against which
    a block that is zero in exact arithmetic may carry rounding noise (1e-13 under values
    of 1e3) computed one way and exact zeros another."""
    return max((float(np.max(np.abs(a[np.isfinite(a)]), initial=0.0))
                for a in (np.asarray(x, dtype=float) for x in arrays)), default=0.0)
