"""anaus_mm.models.lpsam."""
from .losses import BCEDiceLoss  # noqa: F401
from .lpsam import LPSAM  # noqa: F401
