"""Models, registered into ``mmpretrain.registry.MODELS`` (pre-training) and
``mmseg.registry.MODELS`` (LP-SAM)."""
from . import heads, losses, lpsam, necks, selfsup, utils  # noqa: F401
