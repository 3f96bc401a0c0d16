"""The primitive registry; importing this package registers every family."""

from . import elementwise, linalg, reduce, shape  # noqa: F401 - registration side effect
from .registry import PRIMITIVES, Cost, Primitive

__all__ = ["PRIMITIVES", "Cost", "Primitive"]
