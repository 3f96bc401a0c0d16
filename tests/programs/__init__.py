"""Generated programs for the metamorphic suite and the differential run against JAX."""

from .answers import dense, largest
from .backends import JaxBackend, NumpyBackend, Unsupported
from .generate import HypothesisDraw, SeededDraw, generate, point
from .tree import Program

__all__ = ["HypothesisDraw", "JaxBackend", "NumpyBackend", "Program", "SeededDraw",
           "Unsupported", "dense", "generate", "largest", "point"]
