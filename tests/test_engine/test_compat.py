"""The compatibility module: mmcv.ops stand-in, checkpoint loader, versions."""
import math
import sys

import pytest
import torch

import anaus_mm
from anaus_mm import compat
from anaus_mm.utils.version_check import check_dependencies


def _bilinear(img, x, y):
    """Bilinear sample of a (H, W) image at continuous pixel coords, zeros
    outside (grid_sample's padding_mode='zeros', align_corners=False)."""
    h, w = img.shape
    x0, y0 = math.floor(x), math.floor(y)
    total = 0.0
    for dx in (0, 1):
        for dy in (0, 1):
            xi, yi = x0 + dx, y0 + dy
            wx = 1 - abs(x - xi)
            wy = 1 - abs(y - yi)
            if 0 <= xi < w and 0 <= yi < h:
                total += wx * wy * float(img[yi, xi])
    return total


def test_point_sample_matches_hand_bilinear():
    from mmcv.ops import point_sample
    torch.manual_seed(0)
    feats = torch.randn(2, 3, 5, 7)
    points = torch.rand(2, 4, 2)
    out = point_sample(feats, points)
    assert out.shape == (2, 3, 4)
    for n in range(2):
        for c in range(3):
            for p in range(4):
                # align_corners=False: normalised x maps to x * W - 0.5
                x = float(points[n, p, 0]) * 7 - 0.5
                y = float(points[n, p, 1]) * 5 - 0.5
                expect = _bilinear(feats[n, c], x, y)
                assert out[n, c, p].item() == pytest.approx(expect, abs=1e-5)


def test_point_sample_grid_points_keep_shape():
    from mmcv.ops import point_sample
    feats = torch.arange(16.).view(1, 1, 4, 4)
    # sampling exactly at pixel centres returns the pixels
    centres = (torch.arange(4.) + 0.5) / 4
    yy, xx = torch.meshgrid(centres, centres, indexing='ij')
    grid = torch.stack([xx, yy], -1)[None]
    out = point_sample(feats, grid)
    assert out.shape == (1, 1, 4, 4)
    assert torch.allclose(out, feats)


def test_sigmoid_focal_loss_matches_formula():
    from mmcv.ops import sigmoid_focal_loss
    torch.manual_seed(1)
    logits = torch.randn(5, 3)
    target = torch.tensor([0, 2, 3, 1, 0])  # 3 == background
    weight = torch.tensor([1.0, 0.5, 2.0, 1.0, 0.0])
    gamma, alpha = 2.0, 0.25
    expect = torch.zeros(5, 3)
    for i in range(5):
        for c in range(3):
            p = 1 / (1 + math.exp(-float(logits[i, c])))
            if int(target[i]) == c:
                v = -alpha * (1 - p)**gamma * math.log(p)
            else:
                v = -(1 - alpha) * p**gamma * math.log(1 - p)
            expect[i, c] = v * float(weight[i])
    out = sigmoid_focal_loss(logits, target, gamma, alpha, weight, 'none')
    assert torch.allclose(out, expect, atol=1e-6)
    mean = sigmoid_focal_loss(logits, target, gamma, alpha, weight, 'mean')
    assert mean.item() == pytest.approx(expect.sum().item() / 5, rel=1e-5)
    total = sigmoid_focal_loss(logits, target, gamma, alpha, weight, 'sum')
    assert total.item() == pytest.approx(expect.sum().item(), rel=1e-5)


def test_other_ops_raise_module_not_found():
    import mmcv.ops
    with pytest.raises(ModuleNotFoundError, match='compiled ops'):
        mmcv.ops.roi_align  # noqa: B018


def test_mmseg_models_import():
    import mmseg.models
    from mmseg.registry import MODELS
    assert MODELS.get('EncoderDecoder') is not None
    assert hasattr(mmseg.models, 'EncoderDecoder')


def test_standin_is_noop_with_full_mmcv(monkeypatch):
    monkeypatch.setattr(compat, 'has_compiled_mmcv_ops', lambda: True)
    before = sys.modules.get('mmcv.ops')
    assert compat.install_mmcv_ops_standin() is False
    assert sys.modules.get('mmcv.ops') is before


def test_checkpoint_loader_registered_for_local_files(tmp_path):
    from mmengine.logging import HistoryBuffer
    from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint
    assert CheckpointLoader._schemes[''] is compat.load_from_local_trusted
    path = tmp_path / 'ckpt.pth'
    # a HistoryBuffer is what breaks torch.load(weights_only=True)
    torch.save({'meta': {'buf': HistoryBuffer()}, 'state_dict': {}}, path)
    with pytest.raises(Exception):
        torch.load(path, weights_only=True)
    ckpt = _load_checkpoint(str(path), map_location='cpu')
    assert isinstance(ckpt['meta']['buf'], HistoryBuffer)


def test_version_check_names_package_and_range():
    fake = {'mmengine': '0.10.7', 'mmcv': '2.2.0', 'mmpretrain': '1.2.0',
            'mmsegmentation': None}
    with pytest.raises(ImportError) as info:
        check_dependencies(version_getter=fake.get)
    msg = str(info.value)
    assert 'mmcv==2.2.0' in msg and 'mmcv>=2.0.0,<2.2.0' in msg
    assert 'mmsegmentation is not installed' in msg
    assert 'mmengine==' not in msg and 'mmpretrain==' not in msg
    # the real environment passes
    check_dependencies()
    assert anaus_mm.__version__
