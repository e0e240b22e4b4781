"""Two anatomy-aware views of an (image, label map) pair plus their core view.

ANAUS (https://arxiv.org/abs/2605.25402), method.md §2 "Views" and
"Core region". mmpretrain's ``MultiView`` drops masks and crop boxes, so the
geometry is done here, identically for the image and the mask of a view.
"""
from typing import List, Optional, Sequence, Tuple

import cv2
import mmcv
import numpy as np
import torch
from mmcv.transforms import BaseTransform, Compose
from mmengine.registry import DefaultScope

from mmpretrain.datasets.transforms import RandomResizedCrop
from mmpretrain.registry import TRANSFORMS


def byol_photometric(view: int) -> List[dict]:
    """BYOL's photometric pipeline of view 0 or 1 (image only).

    The one definition of BYOL's view augmentation in the project
    (https://arxiv.org/abs/2006.07733, as mmpretrain's BYOL configs write
    it): colour jitter (0.4, 0.4, 0.2, 0.1) p 0.8, grayscale p 0.2, Gaussian
    blur p 1.0 / 0.1, solarize p 0 / 0.2. ANAUS's ``AnatomyPairedViews``
    and the baselines' pipelines (:class:`BYOLPhotometric`) both build it
    from here, so the comparison cannot drift.
    """
    if view not in (0, 1):
        raise ValueError(f'BYOL has views 0 and 1, got {view}')
    return [
        dict(type='RandomApply', prob=0.8, transforms=[
            dict(type='ColorJitter', brightness=0.4, contrast=0.4,
                 saturation=0.2, hue=0.1)]),
        dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
             channel_weights=(0.114, 0.587, 0.2989)),
        dict(type='GaussianBlur', magnitude_range=(0.1, 2.0),
             magnitude_std='inf', prob=(1.0, 0.1)[view]),
        dict(type='Solarize', thr=128, prob=(0.0, 0.2)[view]),
    ]


def _build_pipeline(transforms: Sequence) -> Compose:
    # nested wrappers (RandomApply) build from the default scope
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return Compose([TRANSFORMS.build(t) if isinstance(t, dict) else t
                        for t in transforms])


@TRANSFORMS.register_module()
class BYOLPhotometric(BaseTransform):
    """BYOL's photometric augmentation of one view, as a transform.

    Use it after the geometric part of a view pipeline, e.g.
    ``[RandomResizedCrop(...), RandomFlip(...), BYOLPhotometric(view=0)]``;
    see :func:`byol_photometric`.

    **Required keys:** ``img``. **Modified keys:** ``img``.

    Args:
        view (int): 0 (blur p 1.0, no solarize) or 1 (blur p 0.1, solarize
            p 0.2).
    """

    def __init__(self, view: int) -> None:
        self.view = int(view)
        self.pipeline = _build_pipeline(byol_photometric(self.view))

    def transform(self, results: dict) -> dict:
        return self.pipeline(results)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(view={self.view})'


def overlap_box(box_a: Sequence[int], box_b: Sequence[int],
                min_frac: float = 0.) -> Optional[Tuple[int, int, int, int]]:
    """Intersection of two ``(x1, y1, x2, y2)`` boxes, or None.

    None when the boxes do not overlap, or when the overlap covers less than
    ``min_frac`` of the smaller box (a sliver blown up to the full view
    would teach nothing but interpolation).
    """
    x1, y1 = max(box_a[0], box_b[0]), max(box_a[1], box_b[1])
    x2, y2 = min(box_a[2], box_b[2]), min(box_a[3], box_b[3])
    if x2 <= x1 or y2 <= y1:
        return None
    area = lambda b: (b[2] - b[0]) * (b[3] - b[1])  # noqa: E731
    if (x2 - x1) * (y2 - y1) < min_frac * min(area(box_a), area(box_b)):
        return None
    return (x1, y1, x2, y2)


def crop_resize(img: np.ndarray, mask: np.ndarray, box: Sequence[int],
                size: int, flip: bool = False, backend: str = 'pillow'
                ) -> Tuple[np.ndarray, np.ndarray]:
    """Crop ``box`` from an image and its label map, resize to ``size``,
    optionally flip both.

    The image is cropped and resized exactly as mmpretrain's
    ``RandomResizedCrop`` does it (``mmcv.imcrop`` + ``mmcv.imresize``,
    bilinear, ``backend``), so ANAUS's views match the baselines'
    pixel for pixel. The label map uses ``cv2.INTER_NEAREST_EXACT``, which
    samples at pixel centres like the bilinear image (``INTER_NEAREST`` is
    half a pixel off).
    """
    x1, y1, x2, y2 = (int(v) for v in box)
    img = mmcv.imcrop(img, np.array([x1, y1, x2 - 1, y2 - 1]))
    img = mmcv.imresize(img, (size, size), interpolation='bilinear',
                        backend=backend)
    mask = cv2.resize(np.ascontiguousarray(mask[y1:y2, x1:x2]), (size, size),
                      interpolation=cv2.INTER_NEAREST_EXACT)
    if img.ndim == 2:
        img = img[..., None]
    if flip:
        img, mask = img[:, ::-1], mask[:, ::-1]
    return np.ascontiguousarray(img), np.ascontiguousarray(mask)


@TRANSFORMS.register_module()
class AnatomyPairedViews(BaseTransform):
    """Make two views of (image, anatomy mask) and their clean core view.

    Each view: RandomResizedCrop (``scale``, ``ratio``; the box drawn by
    mmpretrain's ``RandomResizedCrop.rand_crop_params``, the crop resized
    with the same ``backend`` as the baselines' pipelines) and horizontal
    flip (``flip_prob``) applied identically to the image and the mask
    (nearest-exact interpolation for the mask), then a photometric pipeline
    on the image only (default: BYOL's, built from config dicts per view).

    The core view is the overlap of the two crop boxes, cropped from the
    *original* image and mask (not flipped) and resized to ``size``. When the
    boxes do not overlap, or overlap by less than ``min_core_frac`` of the
    smaller box, ``core_valid`` is False and the core view holds the whole
    image as a placeholder, which the model never feeds to its networks.

    **Required keys:** ``img``, ``gt_seg_map``.
    **Modified keys:** ``img`` becomes ``[view1, view2, core]`` (uint8 HWC).
    **Added keys:** ``view_masks`` (uint8 tensor 3×size×size: masks of view1,
    view2 and core), ``crop_boxes`` (float tensor 2×4, ``(x1, y1, x2, y2)``
    in original pixels, x2/y2 exclusive), ``flips`` (bool tensor 2),
    ``core_box`` (float tensor 4; zeros when invalid), ``core_valid`` (bool
    tensor 1). Pack them with
    ``PackInputs(algorithm_keys=AnatomyPairedViews.ALGORITHM_KEYS)``.

    Args:
        size (int): Output size of every view.
        scale (tuple): Area fraction range of the crops.
        ratio (tuple): Aspect ratio range of the crops.
        flip_prob (float): Horizontal flip probability per view.
        view_pipelines (list[list[dict]], optional): Photometric pipelines of
            the two views; defaults to BYOL's.
        min_core_frac (float): Smallest overlap (share of the smaller crop
            box) that makes a valid core. Defaults to 1/16.
        backend (str): Resize backend of the image crops, ``'pillow'`` (as
            the baselines' ``RandomResizedCrop``) or ``'cv2'``.
    """

    ALGORITHM_KEYS = ('view_masks', 'crop_boxes', 'flips', 'core_box',
                      'core_valid')

    def __init__(self, size: int = 224,
                 scale: Tuple[float, float] = (0.2, 1.0),
                 ratio: Tuple[float, float] = (3 / 4, 4 / 3),
                 flip_prob: float = 0.5,
                 view_pipelines: Optional[List[List[dict]]] = None,
                 min_core_frac: float = 1 / 16,
                 backend: str = 'pillow') -> None:
        self.size = int(size)
        self.scale = tuple(scale)
        self.ratio = tuple(ratio)
        self.flip_prob = flip_prob
        self.min_core_frac = float(min_core_frac)
        self.backend = backend
        self.crop = RandomResizedCrop(self.size, crop_ratio_range=self.scale,
                                      aspect_ratio_range=self.ratio,
                                      backend=backend)
        if view_pipelines is None:
            view_pipelines = [byol_photometric(0), byol_photometric(1)]
        if len(view_pipelines) != 2:
            raise ValueError('AnatomyPairedViews needs exactly 2 view '
                             f'pipelines, got {len(view_pipelines)}')
        self.view_pipelines = [_build_pipeline(p) for p in view_pipelines]

    def sample_crop_box(self, img: np.ndarray) -> Tuple[int, int, int, int]:
        """A RandomResizedCrop box ``(x1, y1, x2, y2)`` (x2, y2 exclusive)
        drawn by mmpretrain's own ``rand_crop_params``."""
        top, left, h, w = self.crop.rand_crop_params(img)
        return (int(left), int(top), int(left + w), int(top + h))

    def _photometric(self, view: int, img: np.ndarray) -> np.ndarray:
        out = self.view_pipelines[view](
            dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2]))
        return out['img']

    def transform(self, results: dict) -> dict:
        img, mask = results['img'], results['gt_seg_map']
        height, width = img.shape[:2]
        if mask.shape[:2] != (height, width):
            raise ValueError(
                f'mask {results.get("mask_path", "")} is {mask.shape[:2]} '
                f'but image {results.get("img_path", "")} is {(height, width)}')
        boxes, flips, imgs, masks = [], [], [], []
        for view in range(2):
            box = self.sample_crop_box(img)
            flip = bool(np.random.rand() < self.flip_prob)
            v_img, v_mask = crop_resize(img, mask, box, self.size, flip,
                                        self.backend)
            imgs.append(self._photometric(view, v_img))
            masks.append(v_mask)
            boxes.append(box)
            flips.append(flip)
        core = overlap_box(*boxes, min_frac=self.min_core_frac)
        c_img, c_mask = crop_resize(img, mask, core or (0, 0, width, height),
                                    self.size, backend=self.backend)
        imgs.append(c_img)
        masks.append(c_mask)
        results['img'] = imgs
        results['img_shape'] = (self.size, self.size)
        results['view_masks'] = torch.from_numpy(np.stack(masks))
        results['crop_boxes'] = torch.tensor(boxes, dtype=torch.float32)
        results['flips'] = torch.tensor(flips, dtype=torch.bool)
        results['core_box'] = torch.tensor(core or (0, 0, 0, 0),
                                           dtype=torch.float32)
        results['core_valid'] = torch.tensor([core is not None])
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(size={self.size}, '
                f'scale={self.scale}, ratio={self.ratio}, '
                f'flip_prob={self.flip_prob}, '
                f'min_core_frac={self.min_core_frac:g}, '
                f'backend={self.backend!r})')
