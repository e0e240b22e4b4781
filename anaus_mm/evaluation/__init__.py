"""See the package docstring of anaus_mm."""
from .us_seg_metric import USSegMetric  # noqa: F401
from .paired_stats import mean_std, paired_difference  # noqa: F401
