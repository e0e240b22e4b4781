"""Two anatomy-aware views of an (image, label map) pair plus their core view.

ANAUS (https://arxiv.org/abs/2605.25402), method.md §2 "Views" and
"Core region". mmpretrain's ``MultiView`` drops masks and crop boxes, so the
geometry is done here, identically for the image and the mask of a view.
"""
import math

import cv2
import numpy as np
import torch
from mmcv.transforms import BaseTransform, Compose
from mmengine.registry import DefaultScope

from mmpretrain.registry import TRANSFORMS


def byol_photometric(view):
    """BYOL photometric pipeline of view 0 or 1 (image only)."""
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


def sample_crop_box(height, width, scale=(0.2, 1.0), ratio=(3 / 4, 4 / 3),
                    rng=np.random, max_attempts=10):
    """Sample a RandomResizedCrop box ``(x1, y1, x2, y2)`` (x2, y2 exclusive,
    integer pixels of the original image)."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(max_attempts):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            x1 = int(rng.randint(0, width - w + 1))
            y1 = int(rng.randint(0, height - h + 1))
            return (x1, y1, x1 + w, y1 + h)
    # fall back to a central crop with the ratio clamped to the range
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, int(round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        h, w = height, int(round(height * ratio[1]))
    else:
        w, h = width, height
    x1, y1 = (width - w) // 2, (height - h) // 2
    return (x1, y1, x1 + w, y1 + h)


def overlap_box(box_a, box_b):
    """Intersection of two ``(x1, y1, x2, y2)`` boxes and whether it is
    non-empty. An empty overlap returns the whole-image placeholder ``None``.
    """
    x1, y1 = max(box_a[0], box_b[0]), max(box_a[1], box_b[1])
    x2, y2 = min(box_a[2], box_b[2]), min(box_a[3], box_b[3])
    if x2 <= x1 or y2 <= y1:
        return None
    return (x1, y1, x2, y2)


def crop_resize(img, mask, box, size, flip=False):
    """Crop ``box`` from an image and its label map, resize to ``size``
    (bilinear for the image, nearest for the mask), optionally flip both."""
    x1, y1, x2, y2 = box
    img = cv2.resize(np.ascontiguousarray(img[y1:y2, x1:x2]), (size, size),
                     interpolation=cv2.INTER_LINEAR)
    mask = cv2.resize(np.ascontiguousarray(mask[y1:y2, x1:x2]), (size, size),
                      interpolation=cv2.INTER_NEAREST)
    if img.ndim == 2:
        img = img[..., None]
    if flip:
        img, mask = img[:, ::-1], mask[:, ::-1]
    return np.ascontiguousarray(img), np.ascontiguousarray(mask)


@TRANSFORMS.register_module()
class AnatomyPairedViews(BaseTransform):
    """Make two views of (image, anatomy mask) and their clean core view.

    Each view: RandomResizedCrop (``scale``, ``ratio``) and horizontal flip
    (``flip_prob``) applied identically to the image and the mask (nearest
    interpolation for the mask), then a photometric pipeline on the image
    only (default: BYOL's, built from config dicts per view).

    The core view is the overlap of the two crop boxes, cropped from the
    *original* image and mask (not flipped) and resized to ``size``. When the
    boxes do not overlap, ``core_valid`` is False and the core view holds the
    whole image as a placeholder: the model masks its loss out instead of
    learning from a zero-filled crop.

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
    """

    ALGORITHM_KEYS = ('view_masks', 'crop_boxes', 'flips', 'core_box',
                      'core_valid')

    def __init__(self, size=224, scale=(0.2, 1.0), ratio=(3 / 4, 4 / 3),
                 flip_prob=0.5, view_pipelines=None):
        self.size = int(size)
        self.scale = tuple(scale)
        self.ratio = tuple(ratio)
        self.flip_prob = flip_prob
        if view_pipelines is None:
            view_pipelines = [byol_photometric(0), byol_photometric(1)]
        if len(view_pipelines) != 2:
            raise ValueError('AnatomyPairedViews needs exactly 2 view '
                             f'pipelines, got {len(view_pipelines)}')
        # nested wrappers (RandomApply) build from the default scope
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            self.view_pipelines = [
                Compose([TRANSFORMS.build(t) if isinstance(t, dict) else t
                         for t in p]) for p in view_pipelines]

    def _photometric(self, view, img):
        out = self.view_pipelines[view](
            dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2]))
        return out['img']

    def transform(self, results):
        img, mask = results['img'], results['gt_seg_map']
        height, width = img.shape[:2]
        if mask.shape[:2] != (height, width):
            raise ValueError(
                f'mask {results.get("mask_path", "")} is {mask.shape[:2]} '
                f'but image {results.get("img_path", "")} is {(height, width)}')
        boxes, flips, imgs, masks = [], [], [], []
        for view in range(2):
            box = sample_crop_box(height, width, self.scale, self.ratio)
            flip = bool(np.random.rand() < self.flip_prob)
            v_img, v_mask = crop_resize(img, mask, box, self.size, flip)
            imgs.append(self._photometric(view, v_img))
            masks.append(v_mask)
            boxes.append(box)
            flips.append(flip)
        core = overlap_box(*boxes)
        c_img, c_mask = crop_resize(img, mask, core or (0, 0, width, height),
                                    self.size)
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

    def __repr__(self):
        return (f'{self.__class__.__name__}(size={self.size}, '
                f'scale={self.scale}, ratio={self.ratio}, '
                f'flip_prob={self.flip_prob})')
