"""Data transforms, registered into the mmpretrain / mmseg TRANSFORMS registries."""
from .loading import LoadAnatomyMask  # noqa: F401
from .paired_views import AnatomyPairedViews, BYOLPhotometric  # noqa: F401
from .us_photometric import RandomContrast, RandomGamma  # noqa: F401
from .seg_loading import LoadMergedAnnotations, LoadUSImageFromFile  # noqa: F401
