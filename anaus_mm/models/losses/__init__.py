"""anaus_mm.models.losses."""
from .anatomy_alignment_loss import AnatomyAlignmentLoss  # noqa: F401
from .core_region_loss import CoreRegionPredictionLoss  # noqa: F401
