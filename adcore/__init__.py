"""adcore: the Nabla AD compiler (text -> IR -> transforms -> numpy)."""

from .api import OPERATIONS, Program, compile
from .errors import ProgramError
from .limits import DEFAULT_LIMITS, Limits

__all__ = ["DEFAULT_LIMITS", "OPERATIONS", "Limits", "Program", "ProgramError", "compile"]
