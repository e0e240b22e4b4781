"""Load an anatomy label map (uint8 PNG, 0 = background, 1..C = anatomy ids).

Masks come from LP-SAM (``tools/`` mask generation) or from any label maps,
e.g. the simulator's. They are plain label PNGs, never pickles.
"""
import os.path as osp
from typing import Optional

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.fileio import get

from mmpretrain.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadAnatomyMask(BaseTransform):
    """Read ``results['mask_path']`` as a uint8 label map.

    **Required keys:** ``mask_path`` (and ``img`` / ``img_shape`` when the
    size is checked). **Added keys:** ``gt_seg_map`` (H, W) uint8.

    Args:
        check_size (bool): Require the mask to have the image's height and
            width (the image must be loaded first). Defaults to True.
        backend_args (dict, optional): mmengine file backend arguments.

    Raises:
        FileNotFoundError: the mask file does not exist.
        ValueError: the file cannot be decoded, is not a single-channel
            label map, or its size differs from the image's.
    """

    def __init__(self,
                 check_size: bool = True,
                 backend_args: Optional[dict] = None) -> None:
        self.check_size = check_size
        self.backend_args = backend_args

    def transform(self, results: dict) -> dict:
        """Read the mask of ``results['mask_path']`` into ``gt_seg_map``.

        Args:
            results (dict): The sample, with ``mask_path``.

        Returns:
            dict: ``results`` with ``gt_seg_map`` added.
        """
        path = results.get('mask_path')
        if path is None:
            raise KeyError('LoadAnatomyMask needs "mask_path" in the data '
                           f'info of {results.get("img_path", "a sample")}')
        if self.backend_args is None and not osp.isfile(path):
            raise FileNotFoundError(f'anatomy mask not found: {path}')
        try:
            mask = mmcv.imfrombytes(get(path, backend_args=self.backend_args),
                                    flag='unchanged')
        except Exception as e:  # noqa: BLE001 - report the file, keep cause
            raise ValueError(f'cannot read anatomy mask {path}: {e}') from e
        if mask is None:
            raise ValueError(f'cannot decode anatomy mask {path}')
        if mask.ndim == 3:
            if mask.shape[2] == 1 or (mask == mask[..., :1]).all():
                mask = mask[..., 0]
            else:
                raise ValueError(f'anatomy mask {path} has {mask.shape[2]} '
                                 'different channels; expected a '
                                 'single-channel label map')
        if mask.dtype != np.uint8:
            if mask.max(initial=0) > 255 or mask.min(initial=0) < 0:
                raise ValueError(f'anatomy mask {path} has ids outside '
                                 '0..255')
            mask = mask.astype(np.uint8)
        if self.check_size and 'img' in results:
            ih, iw = results['img'].shape[:2]
            if mask.shape != (ih, iw):
                raise ValueError(
                    f'anatomy mask {path} is {mask.shape[1]}x{mask.shape[0]} '
                    f'(WxH) but its image {results.get("img_path", "")} is '
                    f'{iw}x{ih}')
        results['gt_seg_map'] = mask
        return results

    def __repr__(self) -> str:
        """The transform's class and arguments."""
        return (f'{self.__class__.__name__}(check_size={self.check_size}, '
                f'backend_args={self.backend_args})')
