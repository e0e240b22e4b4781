"""Loading transforms of the ultrasound segmentation datasets (mmseg).

* :class:`LoadMergedAnnotations` reads one *or several* mask files per image
  (BUSI ships ``_mask.png``, ``_mask_1.png``, ... for images with several
  lesions) and builds ``gt_seg_map``: binary masks are binarised and merged
  by union; label maps (CAMUS, simulated anatomy) are read as ids and go
  through the sample's ``label_map``.
* :class:`LoadUSImageFromFile` reads PNG/JPEG like mmcv and also NIfTI /
  MetaImage files (CAMUS), as 3-channel uint8.
"""
from typing import Optional

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

from ..medical_io import is_medical, read_any, read_medical


def binarize_mask(mask: np.ndarray, threshold: int = 128) -> np.ndarray:
    """Foreground = value >= ``threshold`` (0/255 masks, JPEG noise too).

    A mask whose values are only 0 and 1 (some releases store masks that
    way) is taken as is. RGB(A) masks (some BUSI masks are saved as RGB or
    RGBA) use the maximum over the colour channels; an alpha channel is
    ignored unless the colour channels are all zero, in which case the alpha
    channel itself is the mask (transparent-background exports).

    Args:
        mask (np.ndarray): ``(H, W)`` or ``(H, W, C)`` mask (any array-like).
        threshold (int): Foreground threshold. Defaults to 128.

    Returns:
        np.ndarray: ``(H, W)`` uint8 mask of 0 and 1.
    """
    mask = np.asarray(mask)
    if mask.ndim == 3:
        colour = mask[..., :3].max(axis=-1)
        if mask.shape[-1] == 4 and not colour.any():
            colour = mask[..., 3]
        mask = colour
    if mask.dtype == bool or mask.max(initial=0) <= 1:
        return (mask > 0).astype(np.uint8)
    return (mask >= threshold).astype(np.uint8)


@TRANSFORMS.register_module()
class LoadMergedAnnotations(BaseTransform):
    """Load ``gt_seg_map`` from one or several mask files.

    Required keys: ``seg_map_path`` (str or list of str); optional
    ``mask_mode`` ('binary' | 'label', default 'binary') and ``label_map``.
    Added keys: ``gt_seg_map`` (uint8, H x W), ``seg_fields``.

    Args:
        threshold (int): binarisation threshold of binary masks (masks stored
            as JPEG, e.g. TN3K/TG3K, carry compression noise around 0/255).
        mode (str, optional): force 'binary' or 'label' for every sample.
    """

    def __init__(self,
                 threshold: int = 128,
                 mode: Optional[str] = None) -> None:
        assert mode in (None, 'binary', 'label')
        self.threshold = threshold
        self.mode = mode

    def transform(self, results: dict) -> dict:
        """Read, merge (binary) or map (label) the masks into ``gt_seg_map``.

        Args:
            results (dict): The sample, with ``seg_map_path``.

        Returns:
            dict: ``results`` with ``gt_seg_map`` and ``seg_fields``.
        """
        paths = results['seg_map_path']
        paths = [paths] if isinstance(paths, str) else list(paths)
        mode = self.mode or results.get('mask_mode', 'binary')
        if mode == 'binary':
            seg = None
            for p in paths:
                m = binarize_mask(read_any(p), self.threshold)
                seg = m if seg is None else np.maximum(seg, m)
        else:
            seg = np.asarray(read_any(paths[0]))
            if seg.ndim == 3:
                seg = seg[..., 0]
            seg = seg.astype(np.uint8)
            label_map = results.get('label_map')
            if label_map:
                src = seg.copy()
                for old, new in label_map.items():
                    seg[src == old] = new
        results['gt_seg_map'] = np.ascontiguousarray(seg, dtype=np.uint8)
        results.setdefault('seg_fields', []).append('gt_seg_map')
        return results

    def __repr__(self) -> str:
        """The transform's class and arguments."""
        return (f'{self.__class__.__name__}(threshold={self.threshold}, '
                f'mode={self.mode})')


@TRANSFORMS.register_module()
class LoadUSImageFromFile(BaseTransform):
    """Load an image as 3-channel uint8, including NIfTI / MetaImage.

    Medical files that are not uint8 are min-max scaled to 0..255. Other
    formats are read with ``mmcv.imread`` (colour, BGR).

    Added keys: ``img``, ``img_shape``, ``ori_shape``.
    """

    def transform(self, results: dict) -> dict:
        """Read ``results['img_path']`` as an ``(H, W, 3)`` uint8 image.

        Args:
            results (dict): The sample, with ``img_path``.

        Returns:
            dict: ``results`` with ``img``, ``img_shape`` and ``ori_shape``.

        Raises:
            OSError: If the image cannot be read.
        """
        path = results['img_path']
        if is_medical(path):
            img = np.asarray(read_medical(path))
            if img.ndim == 3:  # a sequence: first frame
                img = img[0]
            if img.dtype != np.uint8:
                img = img.astype(np.float32)
                lo, hi = float(img.min()), float(img.max())
                img = ((img - lo) / max(hi - lo, 1e-6) * 255).astype(np.uint8)
            img = np.repeat(img[..., None], 3, axis=-1)
        else:
            img = mmcv.imread(path, flag='color')
            if img is None:
                raise OSError(f'cannot read image {path}')
        results['img'] = np.ascontiguousarray(img)
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results
