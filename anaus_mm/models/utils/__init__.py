"""anaus_mm.models.utils."""
from .roi_mlp import RoIMLP  # noqa: F401
