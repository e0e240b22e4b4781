"""anaus_mm.models.necks."""
from .anatomy_fpn import AnatomyFPN  # noqa: F401
from .simple_feature_pyramid import SimpleFeaturePyramid  # noqa: F401
