"""Photometric augmentations of LP-SAM's training (ultrasound), mmseg-style.

The paper trains LP-SAM with gamma (1–2.5), rotation ±30°, scale 1–1.3 with
random crop and contrast (0.8–2), each with p = 0.5, no flip. mmseg provides
rotation (``RandomRotate``), scaling and cropping; this file adds the two
photometric ones it lacks. Both change only ``results['img']``.
"""
from typing import Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

__all__ = ['RandomGamma', 'RandomContrast']


def _as_image(out, like):
    if np.issubdtype(like.dtype, np.integer):
        info = np.iinfo(like.dtype)
        return np.clip(np.rint(out), info.min, info.max).astype(like.dtype)
    return out.astype(like.dtype)


@TRANSFORMS.register_module()
class RandomGamma(BaseTransform):
    """Gamma correction ``255·(img/255)^γ`` with γ ~ U(gamma_range).

    Args:
        prob (float): probability of applying it. Default 0.5.
        gamma_range (tuple[float, float]): range of γ. Default (1.0, 2.5).
        max_value (float): intensity of white (255 for 8-bit images).
    """

    def __init__(self,
                 prob: float = 0.5,
                 gamma_range: Sequence[float] = (1.0, 2.5),
                 max_value: float = 255.0) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        if not 0 < gamma_range[0] <= gamma_range[1]:
            raise ValueError(f'bad gamma_range {gamma_range}')
        self.prob = prob
        self.gamma_range = tuple(gamma_range)
        self.max_value = max_value

    def transform(self, results: dict) -> dict:
        """Apply a random gamma to ``results['img']`` with probability
        ``prob``.

        Args:
            results (dict): The sample, with ``img``.

        Returns:
            dict: ``results``, ``img`` changed in place (same dtype).
        """
        if np.random.rand() >= self.prob:
            return results
        img = results['img']
        gamma = np.random.uniform(*self.gamma_range)
        x = np.clip(img.astype(np.float32) / self.max_value, 0, 1)
        results['img'] = _as_image(self.max_value * x**gamma, img)
        return results

    def __repr__(self) -> str:
        """The transform's class and arguments."""
        return (f'{self.__class__.__name__}(prob={self.prob}, '
                f'gamma_range={self.gamma_range})')


@TRANSFORMS.register_module()
class RandomContrast(BaseTransform):
    """Contrast around the image mean: ``mean + a·(img − mean)``.

    Args:
        prob (float): probability of applying it. Default 0.5.
        contrast_range (tuple[float, float]): range of ``a``. Default
            (0.8, 2.0).
    """

    def __init__(self,
                 prob: float = 0.5,
                 contrast_range: Sequence[float] = (0.8, 2.0)) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        if not 0 <= contrast_range[0] <= contrast_range[1]:
            raise ValueError(f'bad contrast_range {contrast_range}')
        self.prob = prob
        self.contrast_range = tuple(contrast_range)

    def transform(self, results: dict) -> dict:
        """Apply a random contrast to ``results['img']`` with probability
        ``prob``.

        Args:
            results (dict): The sample, with ``img``.

        Returns:
            dict: ``results``, ``img`` changed in place (same dtype).
        """
        if np.random.rand() >= self.prob:
            return results
        img = results['img']
        a = np.random.uniform(*self.contrast_range)
        x = img.astype(np.float32)
        mean = x.mean()
        results['img'] = _as_image(mean + a * (x - mean), img)
        return results

    def __repr__(self) -> str:
        """The transform's class and arguments."""
        return (f'{self.__class__.__name__}(prob={self.prob}, '
                f'contrast_range={self.contrast_range})')
