"""Datasets and transforms, registered into the mmpretrain / mmseg registries.

``anaus_mm.datasets.simulation`` (the ultrasound simulator) is plain numpy and
is imported on demand, not here.
"""
from . import transforms  # noqa: F401
from .us_datasets import *  # noqa: F401,F403
