"""Label maps drawn over images with mmseg's ``SegLocalVisualizer``.

One helper for every overlay of the project: the demo report, LP-SAM mask
generation (:class:`~anaus_mm.apis.LPSAMInferencer` and
``tools/generate_anatomy_masks.py --show-dir``) and
``tools/analysis_tools/browse_dataset.py``. The colours are blended by
mmseg's visualizer (``image * (1 - opacity) + colour * opacity``, optional
class-name boxes); by default the unlabelled pixels (id 0 and ids outside
the palette, e.g. 255 = ignore) keep the image's own values instead of being
darkened by the background colour, so that a dark ultrasound image stays
readable around the anatomy.

Example::

    from anaus_mm.visualization import draw_label_overlay
    rgb = draw_label_overlay(gray, label_map, palette=[[0, 0, 0],
                                                       [255, 64, 64]])
"""
from typing import Optional, Sequence

import numpy as np
import torch

__all__ = ['draw_label_overlay']

_VISUALIZER = None


def _visualizer():
    """A private ``SegLocalVisualizer`` (not registered as mmengine's current
    visualizer, so a Runner's own one is never replaced)."""
    global _VISUALIZER
    if _VISUALIZER is None:
        from mmseg.visualization import SegLocalVisualizer
        _VISUALIZER = SegLocalVisualizer(name='anaus_label_overlay')
    return _VISUALIZER


def draw_label_overlay(image: np.ndarray,
                       label: np.ndarray,
                       palette: Sequence[Sequence[int]],
                       classes: Optional[Sequence[str]] = None,
                       opacity: float = 0.5,
                       with_labels: bool = False,
                       keep_background: bool = True) -> np.ndarray:
    """Blend the colours of a label map into an image.

    Args:
        image (np.ndarray): uint8 RGB ``(H, W, 3)`` or gray ``(H, W)`` image
            (mmseg's visualizers work in RGB; flip a BGR image with
            ``img[..., ::-1]``).
        label (np.ndarray): integer ``(H, W)`` label map of the same size;
            ids ``>= len(palette)`` are not drawn.
        palette (Sequence[Sequence[int]]): RGB colour per id, id 0 first.
        classes (Sequence[str], optional): names per id, for the boxes of
            ``with_labels``. Defaults to the ids as text.
        opacity (float): weight of the label colour. Defaults to 0.5.
        with_labels (bool): draw a box with the class name on each class
            (mmseg's ``with_labels``). Defaults to False.
        keep_background (bool): unlabelled pixels (id 0, ids outside the
            palette) keep the image's values instead of mmseg's blend with
            the background colour, and the background gets no name box
            (the boxes of the other classes are kept where they reach into
            it). Defaults to True.

    Returns:
        np.ndarray: uint8 RGB ``(H, W, 3)`` overlay.

    Raises:
        ValueError: the label map is not ``(H, W)`` of the image, or
            ``classes`` and ``palette`` differ in length.
    """
    from mmengine.structures import PixelData
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'expected an (H, W, 3) or (H, W) image, got shape '
                         f'{image.shape}')
    image = np.ascontiguousarray(image.astype(np.uint8, copy=False))
    label = np.asarray(label)
    if label.shape != image.shape[:2]:
        raise ValueError(f'label map of shape {label.shape} for an image of '
                         f'shape {image.shape[:2]}')
    palette = [[int(c) for c in color] for color in palette]
    classes = [str(i) for i in range(len(palette))] if classes is None \
        else list(classes)
    if len(classes) != len(palette):
        raise ValueError(f'{len(classes)} class names for a palette of '
                         f'{len(palette)} colours')
    unlabelled = (label <= 0) | (label >= len(palette))
    ids = label.astype(np.int64)
    if keep_background:  # no colour and no name box for the background
        ids[unlabelled] = len(palette)
    vis = _visualizer()
    vis.alpha = float(opacity)
    sem_seg = PixelData(data=torch.from_numpy(ids)[None])
    # ``_draw_sem_seg`` rather than ``add_datasample``: the latter is
    # ``@master_only`` and would draw nothing on ranks > 0 of a torchrun
    # mask generation, where every rank writes overlays of its shard.
    drawn = vis._draw_sem_seg(image, sem_seg, classes, palette, with_labels)
    if not keep_background:
        return drawn
    if with_labels:  # keep the name boxes that reach into the background
        plain = vis._draw_sem_seg(image, sem_seg, classes, palette, False)
        unlabelled &= (drawn == plain).all(axis=-1)
    return np.where(unlabelled[..., None], image, drawn)
