"""Paired views, core boxes, mask loading and core corruptions of ANAUS."""
import cv2
import numpy as np
import pytest
import torch

from anaus_mm.datasets.transforms import AnatomyPairedViews, LoadAnatomyMask
from anaus_mm.datasets.transforms.paired_views import overlap_box
from anaus_mm.models.utils.core_corruption import (bezier_intensity_remap,
                                                   corrupt_core,
                                                   inpaint_noise,
                                                   local_pixel_shuffle)


def _coords_pair(h=60, w=80):
    """Image whose pixels encode their coordinates; mask = column bands."""
    ys, xs = np.mgrid[:h, :w]
    img = np.stack([xs * 3, ys * 4, np.zeros_like(xs)], -1).astype(np.uint8)
    mask = (xs // 20).astype(np.uint8)  # ids 0..3 by column band
    return img, mask


def _identity_views(size, **kw):
    return AnatomyPairedViews(size=size, view_pipelines=[[], []], **kw)


def test_views_follow_boxes_and_flips():
    np.random.seed(3)
    img, mask = _coords_pair()
    t = _identity_views(size=40, flip_prob=0.5)
    for _ in range(10):
        r = t(dict(img=img.copy(), gt_seg_map=mask.copy()))
        boxes, flips = r['crop_boxes'].numpy(), r['flips'].numpy()
        for v in range(2):
            x1, y1, x2, y2 = boxes[v].astype(int)
            assert 0 <= x1 < x2 <= 80 and 0 <= y1 < y2 <= 60
            vm = r['view_masks'][v].numpy()
            # mask and image of a view share the geometry: x from red channel
            x_img = r['img'][v][..., 0].astype(int) // 3
            assert np.array_equal(vm, (x_img // 20).astype(np.uint8)) or \
                np.mean(vm == x_img // 20) > 0.9
            left = vm[:, 0].mean() if not flips[v] else vm[:, -1].mean()
            assert abs(left - x1 // 20) <= 1
            if flips[v]:  # flipped: columns decrease left to right
                assert x_img[:, 0].mean() > x_img[:, -1].mean()
        core = overlap_box(tuple(boxes[0]), tuple(boxes[1]))
        assert bool(r['core_valid']) == (core is not None)
        if core is not None:
            assert r['core_box'].tolist() == list(core)
            # the core view is unflipped and spans the overlap in x
            cx = r['img'][2][..., 0].astype(int) // 3
            assert abs(cx[:, 0].mean() - core[0]) <= 2
            assert abs(cx[:, -1].mean() - (core[2] - 1)) <= 2
            assert r['view_masks'][2].shape == (40, 40)


def test_core_box_geometry():
    assert overlap_box((0, 0, 50, 40), (30, 10, 80, 60)) == (30, 10, 50, 40)
    assert overlap_box((0, 0, 30, 30), (30, 0, 60, 30)) is None  # touching
    assert overlap_box((0, 0, 10, 10), (20, 20, 30, 30)) is None
    # a sliver is not a core: 2x40 of the smaller 50x40 box is 1/25 < 1/16
    assert overlap_box((0, 0, 50, 40), (48, 0, 98, 40)) == (48, 0, 50, 40)
    assert overlap_box((0, 0, 50, 40), (48, 0, 98, 40),
                       min_frac=1 / 16) is None
    assert overlap_box((0, 0, 50, 40), (46, 0, 96, 40),
                       min_frac=1 / 16) == (46, 0, 50, 40)  # 4/50 >= 1/16


def test_views_crop_like_mmpretrains_random_resized_crop():
    """The image of a view is pixel for pixel what BYOL's RandomResizedCrop
    (pillow backend) makes of the same box; the mask resize samples pixel
    centres (INTER_NEAREST_EXACT) like the bilinear image."""
    import mmcv
    from anaus_mm.datasets.transforms.paired_views import crop_resize
    rng = np.random.RandomState(0)
    img = rng.randint(0, 255, (60, 80, 3)).astype(np.uint8)
    mask = (np.arange(80)[None].repeat(60, 0) // 7).astype(np.uint8)
    box = (13, 7, 61, 52)
    v_img, v_mask = crop_resize(img, mask, box, 32)
    ref = mmcv.imresize(mmcv.imcrop(img, np.array([13, 7, 60, 51])),
                        (32, 32), interpolation='bilinear', backend='pillow')
    assert np.array_equal(v_img, ref)
    exact = cv2.resize(mask[7:52, 13:61], (32, 32),
                       interpolation=cv2.INTER_NEAREST_EXACT)
    assert np.array_equal(v_mask, exact)
    # pixel centres: output column j samples input column floor((j+.5)*s)
    cols = np.floor((np.arange(32) + 0.5) * 48 / 32).astype(int) + 13
    assert np.array_equal(v_mask[0], (cols // 7).astype(np.uint8))

def test_non_overlapping_views_flag_invalid(monkeypatch):
    from anaus_mm.datasets.transforms import paired_views
    boxes = iter([(0, 0, 30, 60), (40, 0, 80, 60)])
    monkeypatch.setattr(paired_views.AnatomyPairedViews, 'sample_crop_box',
                        lambda *a, **k: next(boxes))
    img, mask = _coords_pair()
    r = _identity_views(size=32, flip_prob=0.)(dict(img=img,
                                                    gt_seg_map=mask))
    assert r['core_valid'].tolist() == [False]
    assert r['core_box'].tolist() == [0, 0, 0, 0]
    assert r['img'][2].std() > 0  # placeholder is the image, not zeros
    assert r['crop_boxes'].tolist() == [[0, 0, 30, 60], [40, 0, 80, 60]]


def test_byol_photometric_only_touches_image():
    np.random.seed(0)
    img, mask = _coords_pair()
    r = AnatomyPairedViews(size=32)(dict(img=img, gt_seg_map=mask))
    assert len(r['img']) == 3 and r['img'][0].shape == (32, 32, 3)
    assert r['view_masks'].dtype == torch.uint8
    assert set(np.unique(r['view_masks'].numpy())) <= {0, 1, 2, 3}


def test_load_anatomy_mask_errors(tmp_path):
    img = np.zeros((20, 30, 3), np.uint8)
    good = tmp_path / 'm.png'
    cv2.imwrite(str(good), np.full((20, 30), 2, np.uint8))
    r = LoadAnatomyMask()(dict(img=img, mask_path=str(good), img_path='i'))
    assert r['gt_seg_map'].dtype == np.uint8 and r['gt_seg_map'][0, 0] == 2
    with pytest.raises(FileNotFoundError, match='missing.png'):
        LoadAnatomyMask()(dict(img=img, mask_path=str(tmp_path /
                                                       'missing.png')))
    bad = tmp_path / 'bad.png'
    bad.write_bytes(b'not a png')
    with pytest.raises(ValueError, match='bad.png'):
        LoadAnatomyMask()(dict(img=img, mask_path=str(bad)))
    small = tmp_path / 'small.png'
    cv2.imwrite(str(small), np.zeros((10, 30), np.uint8))
    with pytest.raises(ValueError, match='small.png.*30x10.*30x20'):
        LoadAnatomyMask()(dict(img=img, mask_path=str(small),
                               img_path='i.png'))


@pytest.mark.parametrize('op', [local_pixel_shuffle, bezier_intensity_remap,
                                inpaint_noise, corrupt_core])
def test_corruptions_pure_and_reproducible(op):
    torch.manual_seed(0)
    clean = torch.rand(4, 3, 40, 40)
    before = clean.clone()
    torch.manual_seed(123)
    a = op(clean)
    torch.manual_seed(123)
    b = op(clean)
    assert torch.equal(clean, before)  # never in place
    assert torch.equal(a, b)
    assert a.shape == clean.shape and a.dtype == clean.dtype
    assert not torch.equal(a, clean)
    gen = torch.Generator().manual_seed(5)
    c = op(clean, generator=gen)
    assert torch.equal(c, op(clean, generator=torch.Generator().manual_seed(
        5)))


def test_corruption_probabilities_and_semantics():
    torch.manual_seed(0)
    x = torch.rand(64, 1, 40, 40)
    # shuffling permutes pixels inside blocks: block sums are preserved
    s = local_pixel_shuffle(x, prob=1.0)
    blk = lambda t: t[:, :, :40, :40].reshape(64, 1, 20, 2, 20, 2).sum((3, 5))
    assert torch.allclose(blk(s), blk(x), atol=1e-5)
    # probability 0 -> identity; per-sample decisions near p
    assert torch.equal(inpaint_noise(x, prob=0.), x)
    changed = (bezier_intensity_remap(x, prob=0.5) != x).flatten(1).any(1)
    assert 0.25 < changed.float().mean() < 0.75
    # Bézier remap is monotonic in intensity per sample
    ramp = torch.linspace(0, 1, 100).view(1, 1, 1, 100).repeat(8, 1, 1, 1)
    y = bezier_intensity_remap(ramp, prob=1.0)[:, 0, 0]
    d = y[:, 1:] - y[:, :-1]
    assert ((d >= -1e-5).all(1) | (d <= 1e-5).all(1)).all()
    # in-painting covers 1..10 rectangles of 4..8 px in a 40 px image
    holes = (inpaint_noise(torch.full((16, 1, 40, 40), 5.), prob=1.0) != 5.)
    area = holes.flatten(1).sum(1)
    assert (area >= 16).all() and (area <= 10 * 64).all()


def test_inpainting_follows_the_models_genesis_rule():
    """Rectangles are added while a p draw succeeds, up to 10: the mean
    count is sum(p^k, k = 1..10) = 7.62 for p = 0.95 (the former rule, a
    uniform 1..10 count gated once by p, averaged 5.2)."""
    import anaus_mm.models.utils.core_corruption as cc
    counts = []
    real = cc._rand

    def spy(shape, like, generator=None):
        out = real(shape, like, generator)
        if len(shape) == 2 and shape[1] == 10 and not counts:
            counts.append((out < 0.95).long().cumprod(1).sum(1))
        return out

    torch.manual_seed(0)
    x = torch.zeros(4000, 1, 20, 20)
    cc._rand = spy
    try:
        holes = cc.inpaint_noise(x, prob=0.95) != 0
    finally:
        cc._rand = real
    n = counts[0].float()
    assert n.mean() == pytest.approx(
        sum(0.95 ** k for k in range(1, 11)), abs=0.1)
    assert (n == 0).float().mean() == pytest.approx(0.05, abs=0.015)
    # no rectangle -> untouched image; some rectangle -> a hole
    touched = holes.flatten(1).any(1)
    assert torch.equal(touched, n > 0)


def test_anaus_views_equal_the_baselines_views_pixel_for_pixel():
    """Equal footing: with the same random state, AnatomyPairedViews makes
    exactly the two images that the baselines' view pipelines
    (configs/selfsup/_base_/ssl_1xb4-30it_sim-demo.py) make: same crop
    boxes, same resize backend, same flips, same BYOL photometric draws."""
    import os.path as osp
    import random
    from mmcv.transforms import Compose
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import TRANSFORMS
    repo = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    cfg = Config.fromfile(osp.join(
        repo, 'configs/selfsup/_base_/ssl_1xb4-30it_sim-demo.py'))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        baseline = [Compose([TRANSFORMS.build(t) for t in p])
                    for p in (cfg.view_pipeline1, cfg.view_pipeline2)]
    ours = AnatomyPairedViews(size=cfg.img_size)
    img = np.random.RandomState(0).randint(0, 255, (90, 120, 3)).astype(
        np.uint8)
    mask = np.zeros((90, 120), np.uint8)
    for seed in range(5):
        np.random.seed(seed)
        random.seed(seed)
        views = [p(dict(img=img.copy()))['img'] for p in baseline]
        np.random.seed(seed)
        random.seed(seed)
        r = ours(dict(img=img.copy(), gt_seg_map=mask))
        assert np.array_equal(views[0], r['img'][0]), seed
        assert np.array_equal(views[1], r['img'][1]), seed
