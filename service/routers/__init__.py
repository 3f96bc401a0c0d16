"""HTTP routes: one APIRouter per concern, no logic (that lives in `engine.py`)."""
