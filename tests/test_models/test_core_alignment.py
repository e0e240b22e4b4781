"""The clean core's target features read from the views' target maps
(``ANAUS(core_target='views')``, anaus_mm/models/utils/core_alignment.py)."""
import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub
from mmpretrain.registry import MODELS, TRANSFORMS

from anaus_mm.models.utils.core_alignment import (align_core_from_views,
                                                  core_box_in_view)
from tests.test_models.test_anaus_model import fake_batch, tiny_cfg


def test_core_box_in_view_hand_computed():
    core = torch.tensor([[30., 30., 60., 50.]] * 2)
    crop = torch.tensor([[10., 20., 110., 70.]] * 2)  # 100 x 50 -> 50 x 50
    flip = torch.tensor([False, True])
    box = core_box_in_view(core, crop, flip, 50)
    # x: (30 - 10) * 0.5 = 10, (60 - 10) * 0.5 = 25; y: 10, 30 (scale 1)
    assert box[0].tolist() == [10., 10., 25., 30.]
    assert box[1].tolist() == [25., 10., 40., 30.]  # mirrored: 50 - x


def _smooth_image(size: int = 96) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size] / size
    img = 128 + 60 * np.sin(2.1 * np.pi * x) * np.cos(1.3 * np.pi * y) + \
        40 * x - 30 * y
    return np.repeat(img[..., None], 3, axis=2).clip(0, 255).astype(np.uint8)


def test_views_aligned_onto_the_core_box_give_the_clean_core():
    """With the image itself as the feature map (stride 1, no photometric
    change), the overlap read from the two views is the clean core view up
    to interpolation; not un-mirroring a flipped view, or the wrong box,
    is far off."""
    views = TRANSFORMS.build(dict(
        type='AnatomyPairedViews', size=48, view_pipelines=[[], []],
        flip_prob=0.5, backend='cv2'))
    img = _smooth_image()
    mask = np.zeros(img.shape[:2], np.uint8)
    np.random.seed(3)
    seen_flip = False
    for _ in range(12):
        out = views.transform(dict(img=img, gt_seg_map=mask))
        if not bool(out['core_valid']):
            continue
        maps = [torch.from_numpy(v.astype(np.float32)).permute(2, 0, 1)[None]
                for v in out['img'][:2]]
        core = torch.from_numpy(out['img'][2].astype(np.float32)).permute(
            2, 0, 1)[None]
        args = (out['core_box'][None], out['crop_boxes'][None],
                out['flips'][None], 48, (48, 48))
        got = align_core_from_views(maps, *args)
        err = (got - core).abs().mean().item()
        assert err < 2.0, err
        flips = out['flips'][None]
        if flips.any():
            seen_flip = True
            wrong = align_core_from_views(maps, args[0], args[1],
                                          torch.zeros_like(flips), 48,
                                          (48, 48))
            assert (wrong - core).abs().mean().item() > 5 * max(err, 1.0)
        shifted = args[0] + torch.tensor([[8., 0., 8., 0.]])
        assert (align_core_from_views(maps, shifted, *args[1:]) -
                core).abs().mean().item() > 2 * max(err, 1.0)
    assert seen_flip


def test_anaus_core_target_views_runs_two_target_passes():
    MessageHub.get_current_instance().update_info('max_iters', 10)
    inputs, samples = fake_batch(b=4, size=64)
    for s in samples:  # the views cover the whole image; the core its half
        s.set_field(torch.tensor([[0., 0., 64., 64.], [0., 0., 64., 64.]]),
                    'crop_boxes')
        s.set_field(torch.tensor([False, True]), 'flips')
        s.set_field(torch.tensor([0., 0., 64., 64.]), 'core_box')
    seen = {}
    for target in ('core', 'views'):
        torch.manual_seed(0)
        model = MODELS.build(tiny_cfg(core_target=target))
        shapes = seen[target] = []
        model.target_net.module.backbone.register_forward_hook(
            lambda mod, args, out, s=shapes: s.append(tuple(args[0].shape)))
        losses = model.loss(inputs, samples)
        assert all(torch.isfinite(v) for v in losses.values())
        assert float(losses['loss_core_s0']) > 0
    # the target passes: views and the 2 valid cores, or the views only
    assert seen['core'] == [(10, 3, 64, 64)]
    assert seen['views'] == [(8, 3, 64, 64)]
    with pytest.raises(ValueError, match="core_target must be 'core' or"):
        MODELS.build(tiny_cfg(core_target='view'))
