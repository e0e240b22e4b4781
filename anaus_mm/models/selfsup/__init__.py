"""anaus_mm.models.selfsup."""
from .anaus import ANAUS  # noqa: F401
