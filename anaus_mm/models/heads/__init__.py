"""anaus_mm.models.heads."""
from .anaus_head import ANAUSHead  # noqa: F401
