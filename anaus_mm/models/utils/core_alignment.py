"""The clean core's target features read from the views' target pyramids.

ANAUS's contextual core-region prediction (method.md §2) regresses, from the
corrupted core view, the EMA target's features of the *clean* core view: the
overlap of the two crop boxes, cropped from the original image and resized
to the view size. The overlap lies inside both views, so the target has
already seen it: ROI-aligning the overlap box on a view's target feature map
gives the core's target map without a third target pass (the speed design
step of the ANAUS speed-and-fidelity issue; ``ANAUS(core_target='views')``).
The two are not identical: a view is photometrically augmented and sampled
at its own resolution, the clean core is neither.

* :func:`core_box_in_view`: the overlap box in a view's pixel coordinates
  (after its crop, resize and flip).
* :func:`align_core_from_views`: per sample, the mean over the two views of
  the target map ROI-aligned to the core box, un-flipped to the core's
  orientation.
"""
from typing import Sequence, Tuple

import torch

__all__ = ['core_box_in_view', 'align_core_from_views']


def core_box_in_view(core_box: torch.Tensor, crop_box: torch.Tensor,
                     flip: torch.Tensor, view_size: int) -> torch.Tensor:
    """Map overlap boxes from original pixels into a view's pixels.

    Boxes are ``(x1, y1, x2, y2)`` with pixel-edge coordinates (x2, y2
    exclusive), as ``AnatomyPairedViews`` writes them. The view is the crop
    box resized to ``view_size`` x ``view_size``, then mirrored horizontally
    where ``flip``.

    Args:
        core_box (Tensor): (N, 4) overlap boxes in original pixels.
        crop_box (Tensor): (N, 4) the views' crop boxes in original pixels.
        flip (Tensor): (N,) bool, the views' horizontal flips.
        view_size (int): The view's side.

    Returns:
        Tensor: (N, 4) float boxes in the view's pixel-edge coordinates
        (x1 < x2 also after a flip).
    """
    core_box, crop_box = core_box.float(), crop_box.float()
    scale_x = view_size / (crop_box[:, 2] - crop_box[:, 0])
    scale_y = view_size / (crop_box[:, 3] - crop_box[:, 1])
    x1 = (core_box[:, 0] - crop_box[:, 0]) * scale_x
    x2 = (core_box[:, 2] - crop_box[:, 0]) * scale_x
    y1 = (core_box[:, 1] - crop_box[:, 1]) * scale_y
    y2 = (core_box[:, 3] - crop_box[:, 1]) * scale_y
    flip = flip.bool()
    x1, x2 = (torch.where(flip, view_size - x2, x1),
              torch.where(flip, view_size - x1, x2))
    return torch.stack([x1, y1, x2, y2], dim=1)


def align_core_from_views(view_maps: Sequence[torch.Tensor],
                          core_box: torch.Tensor, crop_boxes: torch.Tensor,
                          flips: torch.Tensor, view_size: int,
                          out_size: Tuple[int, int],
                          sampling_ratio: int = 2) -> torch.Tensor:
    """The core's feature map taken from the views' feature maps.

    For each view, :func:`torchvision.ops.roi_align` (``aligned=True``)
    samples the core box on the view's map into ``out_size`` cells; a
    flipped view's result is mirrored back, since the core view is never
    flipped. The views' results are averaged.

    Args:
        view_maps (Sequence[Tensor]): Per view, (N, C, h, w) maps of the
            samples (one scale), for views of ``view_size`` pixels.
        core_box (Tensor): (N, 4) overlap boxes in original pixels.
        crop_boxes (Tensor): (N, V, 4) crop boxes of the views.
        flips (Tensor): (N, V) bool flips of the views.
        view_size (int): The views' side in pixels.
        out_size (tuple[int, int]): (h, w) of the core's map at this scale.
        sampling_ratio (int): roi_align's samples per cell side.

    Returns:
        Tensor: (N, C, *out_size), the mean of the views' aligned maps.
    """
    from torchvision.ops import roi_align
    out = None
    for v, maps in enumerate(view_maps):
        boxes = core_box_in_view(core_box, crop_boxes[:, v], flips[:, v],
                                 view_size).to(maps.dtype)
        rois = torch.cat([torch.arange(len(boxes), dtype=maps.dtype,
                                       device=maps.device)[:, None],
                          boxes.to(maps.device)], dim=1)
        aligned = roi_align(maps, rois, tuple(out_size),
                            spatial_scale=maps.shape[-1] / view_size,
                            sampling_ratio=sampling_ratio, aligned=True)
        flip = flips[:, v].to(maps.device).bool()
        aligned = torch.where(flip[:, None, None, None],
                              aligned.flip(-1), aligned)
        out = aligned if out is None else out + aligned
    return out / len(view_maps)
