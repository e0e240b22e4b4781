"""See the package docstring of anaus_mm."""
from .us_seg_metric import USSegMetric  # noqa: F401
