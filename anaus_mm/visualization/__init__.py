"""Drawing helpers over mmseg's / mmpretrain's visualizers."""
from .seg_overlay import draw_label_overlay

__all__ = ['draw_label_overlay']
