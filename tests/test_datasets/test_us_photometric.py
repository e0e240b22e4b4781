"""RandomGamma / RandomContrast (LP-SAM augmentations)."""
import numpy as np
import pytest
from mmseg.registry import TRANSFORMS


def test_random_gamma():
    img = np.tile(np.arange(256, dtype=np.uint8), (4, 1))[..., None].repeat(
        3, -1)
    t = TRANSFORMS.build(dict(type='RandomGamma', prob=1.0,
                              gamma_range=(2.0, 2.0)))
    out = t(dict(img=img.copy()))['img']
    assert out.dtype == np.uint8 and out.shape == img.shape
    assert out[0, 128, 0] == round(255 * (128 / 255)**2)
    assert out[0, 0, 0] == 0 and out[0, 255, 0] == 255
    never = TRANSFORMS.build(dict(type='RandomGamma', prob=0.0))
    assert np.array_equal(never(dict(img=img.copy()))['img'], img)
    with pytest.raises(ValueError):
        TRANSFORMS.build(dict(type='RandomGamma', gamma_range=(0, 1)))


def test_random_contrast():
    img = np.array([[100, 150]], np.uint8)[..., None].repeat(3, -1)
    t = TRANSFORMS.build(dict(type='RandomContrast', prob=1.0,
                              contrast_range=(2.0, 2.0)))
    out = t(dict(img=img.copy(), gt_seg_map=np.ones((1, 2))))
    assert out['img'][0, :, 0].tolist() == [75, 175]  # mean 125 ± 2·25
    assert np.array_equal(out['gt_seg_map'], np.ones((1, 2)))
    clip = TRANSFORMS.build(dict(type='RandomContrast', prob=1.0,
                                 contrast_range=(10.0, 10.0)))
    assert clip(dict(img=img.copy()))['img'][0, :, 0].tolist() == [0, 255]
