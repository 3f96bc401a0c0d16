"""adcore: the Nabla AD compiler (text -> IR -> transforms -> numpy)."""

from .errors import ProgramError
from .limits import DEFAULT_LIMITS, Limits

__all__ = ["ProgramError", "Limits", "DEFAULT_LIMITS"]
