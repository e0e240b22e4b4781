"""``draw_label_overlay``: mmseg's SegLocalVisualizer blend, background and
ignored ids untouched, class-name boxes, argument checks."""
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from mmseg.visualization import SegLocalVisualizer

from anaus_mm.visualization import draw_label_overlay

PALETTE = [[0, 0, 0], [255, 0, 0], [0, 0, 255]]


def _case():
    rng = np.random.RandomState(0)
    image = rng.randint(0, 256, (40, 60, 3)).astype(np.uint8)
    label = np.zeros((40, 60), np.uint8)
    label[5:20, 5:30] = 1
    label[25:35, 30:55] = 2
    label[0:3, 50:60] = 255  # ignored
    return image, label


def test_blend_by_hand_and_background_kept():
    image, label = _case()
    out = draw_label_overlay(image, label, PALETTE, opacity=0.3)
    assert out.shape == image.shape and out.dtype == np.uint8
    for c in (1, 2):
        m = label == c
        want = (image[m] * 0.7 + np.array(PALETTE[c]) * 0.3).astype(np.uint8)
        assert np.array_equal(out[m], want)
    bg = (label == 0) | (label == 255)
    assert np.array_equal(out[bg], image[bg])


def test_same_as_seg_local_visualizer_without_keep_background():
    image, label = _case()
    out = draw_label_overlay(image, label, PALETTE, classes=['bg', 'a', 'b'],
                             opacity=0.5, keep_background=False)
    vis = SegLocalVisualizer(name='test_seg_overlay', alpha=0.5)
    vis.set_dataset_meta(classes=['bg', 'a', 'b'], palette=PALETTE)
    sample = SegDataSample(gt_sem_seg=PixelData(
        data=torch.from_numpy(label.astype(np.int64))[None]))
    vis.add_datasample('x', image, sample, draw_pred=False,
                       with_labels=False)
    assert np.array_equal(out, vis.get_image())


def test_gray_image_and_name_boxes():
    image, label = _case()
    gray = image[..., 0]
    plain = draw_label_overlay(gray, label, PALETTE)
    assert plain.shape == (40, 60, 3)
    big = np.kron(label, np.ones((8, 8), np.uint8))
    big_img = np.full(big.shape + (3, ), 100, np.uint8)
    boxed = draw_label_overlay(big_img, big, PALETTE, ['bg', 'a', 'b'],
                               with_labels=True)
    unboxed = draw_label_overlay(big_img, big, PALETTE, ['bg', 'a', 'b'])
    # the name boxes change pixels
    assert (boxed != unboxed).any()
    # the background alone: no colour, no name box
    only_bg = np.zeros(big.shape, np.uint8)
    assert np.array_equal(
        draw_label_overlay(big_img, only_bg, PALETTE, with_labels=True),
        big_img)


def test_bad_arguments():
    image, label = _case()
    with pytest.raises(ValueError, match='label map of shape'):
        draw_label_overlay(image, label[:10], PALETTE)
    with pytest.raises(ValueError, match='2 class names'):
        draw_label_overlay(image, label, PALETTE, classes=['a', 'b'])
