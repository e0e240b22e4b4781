"""LP-SAM (method.md §1): the segmentor, its two decode heads and loss,
registered into ``mmseg.registry.MODELS``."""
from .decode_heads import BoxPromptHead, LatentPromptHead, SAMMaskHead
from .losses import BCEDiceLoss
from .lpsam import LPSAM

__all__ = [
    'BCEDiceLoss', 'BoxPromptHead', 'LatentPromptHead', 'LPSAM', 'SAMMaskHead'
]
