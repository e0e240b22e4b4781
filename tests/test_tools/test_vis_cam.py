"""Grad-CAM (anaus_mm.utils.grad_cam over the grad-cam package), its
inferencer (anaus_mm.apis.GradCAMInferencer) and
tools/visualization/vis_cam.py."""
import os.path as osp
import sys

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from anaus_mm.apis.cam_inferencer import (GradCAMInferencer, image_files,
                                          inference_pipeline_cfg)
from anaus_mm.utils import GradCAM, overlay
from anaus_mm.utils.errors import AnausError
from anaus_mm.utils.grad_cam import (LayerOutputError, MissingExtraError,
                                     TargetClassError, get_module)

SIZE = 16


class _Gate(nn.Module):
    """Fixed mask: channels 0-1 pass on the left half, 2-3 on the right."""

    def __init__(self, size):
        super().__init__()
        mask = torch.zeros(1, 4, size, size)
        mask[:, :2, :, :size // 2] = 1
        mask[:, 2:, :, size // 2:] = 1
        self.register_buffer('mask', mask)

    def forward(self, x):
        return x * self.mask


def _init_half(conv, head):
    """conv: all 0.1 (+0.05); head: class 0 = channels 0-1, 1 = 2-3."""
    with torch.no_grad():
        conv.weight.fill_(0.1)
        conv.bias.fill_(0.05)
        head.weight.copy_(
            torch.tensor([[1., 1, 0, 0], [0, 0, 1, 1]]).view_as(head.weight))
        head.bias.zero_()


class _HalfNet(nn.Module):
    """Class 0 sees only the left half of the image, class 1 the right."""

    def __init__(self, size=SIZE):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.gate = _Gate(size)
        self.unused = nn.Linear(4, 4)
        self.fc = nn.Linear(4, 2)
        _init_half(self.conv, self.fc)

    def forward(self, x):
        return self.fc(self.gate(self.relu(self.conv(x))).mean((2, 3)))


class _HalfSeg(nn.Module):
    """A segmentor-like module: left half predicted as class 0, right half
    as class 1 (``encode_decode`` + ``decode_head``, as mmseg's)."""

    def __init__(self, size=SIZE):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.gate = _Gate(size)
        self.decode_head = nn.Conv2d(4, 2, 1)
        _init_half(self.conv, self.decode_head)

    def encode_decode(self, x, metas):
        assert len(metas) == x.shape[0]
        return self.decode_head(self.gate(self.relu(self.conv(x))))


class _TokenGate(nn.Module):
    """Tokens (N, 1 + 16, 4): channels 0-1 pass on the left-half tokens of
    the 4x4 grid, 2-3 on the right half; the class token is zeroed."""

    def __init__(self, side):
        super().__init__()
        mask = torch.zeros(1, 1 + side * side, 4)
        grid = mask[:, 1:].view(1, side, side, 4)
        grid[:, :, :side // 2, :2] = 1
        grid[:, :, side // 2:, 2:] = 1
        self.register_buffer('mask', mask)

    def forward(self, tokens):
        return tokens * self.mask


class _TokenNet(nn.Module):
    """ViT-like: 4x4 patches -> a class token + 16 tokens; class 0 reads the
    left half of the image, class 1 the right."""

    def __init__(self, size=SIZE):
        super().__init__()
        self.patch = nn.Conv2d(1, 4, 4, stride=4)
        self.cls_token = nn.Parameter(torch.ones(1, 1, 4))
        self.gate = _TokenGate(size // 4)
        self.fc = nn.Linear(4, 2)
        _init_half(self.patch, self.fc)

    def forward(self, x):
        tokens = self.patch(x).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls_token.expand(len(x), -1, -1), tokens], 1)
        return self.fc(self.gate(tokens)[:, 1:].mean(1))


def _inputs():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 1, SIZE, SIZE, generator=gen)
    x[..., SIZE // 2:] += 1.0  # brighter right half: class 1 is predicted
    return x


def _hand_grad_cam(model, layer, x, cls):
    """Grad-CAM written out: ReLU(sum_c mean(dy/dA_c) A_c), min-max
    normalised per image (the layer keeps the input size here)."""
    acts = []
    handle = layer.register_forward_hook(lambda m, i, o: acts.append(o))
    try:
        score = model(x)[:, cls].sum()
    finally:
        handle.remove()
    grads, = torch.autograd.grad(score, acts[0])
    cam = torch.relu((grads.mean((2, 3), keepdim=True) * acts[0]).sum(1))
    cam = cam - cam.flatten(1).min(1)[0].view(-1, 1, 1)
    return (cam / (cam.flatten(1).max(1)[0].view(-1, 1, 1) + 1e-7)).detach()


def _normalise(cam):
    cam = cam - cam.flatten(1).min(1)[0].view(-1, 1, 1)
    return cam / (cam.flatten(1).max(1)[0].view(-1, 1, 1) + 1e-7)


def test_grad_cam_localises_the_relevant_half():
    model, x = _HalfNet(), _inputs()
    half = SIZE // 2
    with GradCAM(model, 'gate') as grad_cam:
        assert len(model.gate._forward_hooks) > 0  # the package's hooks
        cam0 = grad_cam(x, target_class=0)
        assert grad_cam.target_classes.tolist() == [0, 0]
        cam_pred = grad_cam(x)  # default: the predicted class (1)
        assert grad_cam.target_classes.tolist() == [1, 1]
        probs = model(x).softmax(1)[:, 1]
        assert torch.allclose(grad_cam.scores, probs.detach())
    assert len(model.gate._forward_hooks) == 0
    for cam in (cam0, cam_pred):
        assert cam.shape == (2, SIZE, SIZE) and cam.dtype == torch.float32
        assert cam.min() >= 0 and cam.max() <= 1
        assert torch.allclose(cam.flatten(1).max(1)[0], torch.ones(2))
    # the package computes the Grad-CAM formula
    torch.testing.assert_close(cam0, _hand_grad_cam(model, model.gate, x, 0),
                               atol=1e-4, rtol=0)
    torch.testing.assert_close(cam_pred,
                               _hand_grad_cam(model, model.gate, x, 1),
                               atol=1e-4, rtol=0)
    # class 0 depends only on the left half, class 1 on the right one
    assert (cam0[..., :half].mean() - cam0[..., half:].mean()) > 0.5
    assert cam0[..., half:].max() == 0
    assert (cam_pred[..., half:].mean() - cam_pred[..., :half].mean()) > 0.5
    assert cam_pred[..., :half].max() == 0
    # no leftovers: gradients cleared, hooks gone, mode restored
    assert all(p.grad is None for p in model.parameters())
    model.train()
    cam = GradCAM(model, 'gate')(x, target_class=0)  # one call, no `with`
    assert torch.equal(cam, cam0)
    assert model.training
    assert all(len(m._forward_hooks) == 0 for m in model.modules())


def test_grad_cam_averages_layers_and_reads_vit_tokens():
    model, x = _HalfNet(), _inputs()
    relu = GradCAM(model, 'relu')(x, target_class=0)
    gate = GradCAM(model, 'gate')(x, target_class=0)
    both = GradCAM(model, ['relu', 'gate'])(x, target_class=0)
    # per-layer maps averaged, then normalised to [0, 1] again
    torch.testing.assert_close(both, _normalise((relu + gate) / 2),
                               atol=1e-4, rtol=0)
    assert not torch.allclose(relu, gate)

    # (N, 1 + 16, C) tokens: class token dropped, 4x4 grid, upsampled
    vit, half = _TokenNet(), SIZE // 2
    with GradCAM(vit, 'gate') as grad_cam:
        cam0 = grad_cam(x, target_class=0)
        cam1 = grad_cam(x, target_class=1)
    assert cam0.shape == (2, SIZE, SIZE)
    # 4 px patches, bilinear upsampling: only the border columns mix
    assert cam0[..., :half - 2].min() > 0.5 and cam0[..., half + 2:].max() == 0
    assert cam1[..., half + 2:].min() > 0.5 and cam1[..., :half - 2].max() == 0


def test_seg_grad_cam_explains_the_predicted_region():
    model, x = _HalfSeg(), _inputs()
    half = SIZE // 2
    with GradCAM(model, 'gate') as grad_cam:
        cam = grad_cam(x)  # default: the largest predicted foreground (1)
        assert grad_cam.target_classes.tolist() == [1, 1]
        # the score is the share of pixels predicted as the class
        assert torch.allclose(grad_cam.scores, torch.full((2, ), 0.5))
        cam0 = grad_cam(x, target_class=0)
        assert grad_cam.target_classes.tolist() == [0, 0]
    assert (cam[..., half:].mean() - cam[..., :half].mean()) > 0.5
    assert cam[..., :half].max() == 0
    assert (cam0[..., :half].mean() - cam0[..., half:].mean()) > 0.5
    assert cam0[..., half:].max() == 0
    assert len(model.gate._forward_hooks) == 0


def test_grad_cam_errors_and_overlay():
    model = _HalfNet()
    with pytest.raises(KeyError, match='valid names include: .*gate'):
        get_module(model, 'gat')
    with pytest.raises(KeyError, match='no layer "gat"'):
        GradCAM(model, ['gate', 'gat'])
    with pytest.raises(TargetClassError, match='out of range') as err:
        GradCAM(model, 'gate')(_inputs(), target_class=5)
    assert isinstance(err.value, ValueError)
    with pytest.raises(RuntimeError, match='unused: not all were used'):
        GradCAM(model, 'unused')(_inputs())
    with pytest.raises(LayerOutputError, match='fc: cannot make a spatial'):
        GradCAM(model, 'fc')(_inputs())  # (N, 2): no spatial map
    detached = _HalfNet()
    detached.forward = lambda x: detached.fc(detached.gate(detached.relu(
        detached.conv(x))).detach().mean((2, 3)))
    with pytest.raises(RuntimeError, match='gate: no gradient'):
        GradCAM(detached, 'gate')(_inputs())
    assert all(len(m._forward_hooks) == 0 for m in model.modules())
    assert all(p.grad is None for p in model.parameters())

    gray = np.full((20, 30), 100, np.uint8)
    cam = np.zeros((5, 6), np.float32)
    cam[:, 3:] = 1.0
    out = overlay(gray, cam, alpha=0.5)
    assert out.shape == (20, 30, 3) and out.dtype == np.uint8
    # JET: 0 -> blue, 1 -> red; the hot right side is redder than the left
    assert out[:, -5:, 2].mean() > out[:, :5, 2].mean() + 50
    assert out[:, :5, 0].mean() > out[:, :5, 2].mean()
    out_t = overlay(np.dstack([gray] * 3), torch.from_numpy(cam))
    assert np.array_equal(out, out_t)


def test_missing_grad_cam_names_the_extra(monkeypatch, capsys, tmp_path):
    from anaus_mm.utils.cli import run_cli
    monkeypatch.setitem(sys.modules, 'pytorch_grad_cam', None)
    for make in (lambda: GradCAM(_HalfNet(), 'gate'),
                 lambda: overlay(np.zeros((4, 4), np.uint8),
                                 np.zeros((4, 4))),
                 lambda: GradCAMInferencer(str(tmp_path / 'any.py'), 'x')):
        with pytest.raises(MissingExtraError,
                           match=r'pip install -e \.\[cam\]') as err:
            make()
        assert isinstance(err.value, (AnausError, ImportError))
        assert '\n' not in str(err.value)

    def main(argv=None):
        GradCAMInferencer(str(tmp_path / 'any.py'), 'x')

    monkeypatch.setattr(sys, 'argv', ['vis_cam.py'])
    with pytest.raises(SystemExit) as exit_:
        run_cli(main)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and '[cam]' in err[0], err


def _build_seg():
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmseg'):
        return MODELS.build(
            dict(
                type='EncoderDecoder',
                data_preprocessor=dict(type='SegDataPreProcessor',
                                       mean=[0.] * 3, std=[1.] * 3),
                backbone=dict(type='ResNet', depth=18,
                              norm_cfg=dict(type='BN')),
                decode_head=dict(type='FCNHead', in_channels=512, in_index=3,
                                 channels=8, num_convs=1, num_classes=3,
                                 norm_cfg=dict(type='BN'),
                                 loss_decode=dict(type='CrossEntropyLoss')),
                test_cfg=dict(mode='whole')))


def test_seg_grad_cam_on_a_tiny_segmentor():
    model = _build_seg().eval()
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with GradCAM(model, 'backbone.layer3') as grad_cam:
        cam = grad_cam(x)
        target = int(grad_cam.target_classes[0])
        pred = model.encode_decode(
            x, [dict(img_shape=(32, 32), pad_shape=(32, 32))]).argmax(1)
        share = float((pred == target).float().mean())
        assert abs(float(grad_cam.scores[0]) - share) < 1e-6
        if (pred > 0).any():  # default: the largest predicted foreground
            assert target > 0
        cam2 = grad_cam(x, target_class=2)
        assert grad_cam.target_classes.tolist() == [2]
    for c in (cam, cam2):
        assert c.shape == (1, 32, 32)
        assert c.min() >= 0 and c.max() <= 1
    assert len(model.backbone.layer3._forward_hooks) == 0


# ------------------------------------------------- the inferencer and the tool


def test_test_pipeline_of_wrapped_and_plain_configs(repo_root):
    from mmengine.config import Config
    wrapped = Config.fromfile(
        osp.join(repo_root, 'configs/benchmarks/seg_upernet_r18_busi.py'))
    assert wrapped.test_dataloader.dataset.type == 'GroupKFoldDataset'
    types = [t['type'] for t in inference_pipeline_cfg(wrapped)]
    assert types == ['LoadImageFromFile', 'Resize', 'PackSegInputs']
    plain = Config(dict(test_dataloader=dict(dataset=dict(
        type='X', pipeline=[dict(type='LoadImageFromFile'),
                            dict(type='LoadAnnotations'),
                            dict(type='PackInputs')]))))
    assert [t['type'] for t in inference_pipeline_cfg(plain)] == \
        ['LoadImageFromFile', 'PackInputs']
    with pytest.raises(ValueError, match='no test pipeline'):
        inference_pipeline_cfg(Config(dict(model=dict())))


@pytest.fixture(scope='module')
def tiny_cls(tmp_path_factory, sim_data_dir, repo_root):
    """A 64 px ResNet-18 classifier config on the simulated set + a random
    checkpoint of it."""
    from mmengine.config import Config
    from mmpretrain.registry import MODELS
    tmp = tmp_path_factory.mktemp('vis_cam')
    cfg_path = tmp / 'cls_tiny.py'
    base = osp.join(repo_root, 'configs/benchmarks/cls_r18_ft_simulated.py')
    cfg_path.write_text(f"""
_base_ = {base!r}
_pipe = [dict(type='LoadImageFromFile'),
         dict(type='ResizeEdge', scale=64, edge='short'),
         dict(type='CenterCrop', crop_size=64), dict(type='PackInputs')]
test_dataloader = dict(dataset=dict(dataset=dict(
    data_root={sim_data_dir!r}, pipeline=_pipe)))
""")
    from mmengine.registry import DefaultScope
    torch.manual_seed(0)
    # other tests may leave mmseg as the current default scope
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(Config.fromfile(str(cfg_path)).model)
    ckpt = tmp / 'random.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, str(ckpt))
    return str(cfg_path), str(ckpt), tmp


def test_vis_cam_tool_end_to_end(tiny_cls, sim_data_dir, run_tool):
    cfg, ckpt, tmp = tiny_cls
    out_dir = tmp / 'out'
    res = run_tool([
        'tools/visualization/vis_cam.py',
        osp.join(sim_data_dir, 'images'), cfg, ckpt, '--num', '2',
        '--out-dir', str(out_dir)
    ])
    assert res.returncode == 0, res.stderr[-2000:]
    files = sorted(p.name for p in out_dir.iterdir())
    assert files == ['000000_cam.png', '000001_cam.png'], files
    for name in files:
        img = cv2.imread(str(out_dir / name))
        # 64 px image | overlay, enlarged 4x for display
        assert img.shape == (256, 512, 3)
        assert img[:, 256:].std() > 5  # a real overlay, not a blank panel
    assert 'pred: benign' in res.stdout or 'pred: malignant' in res.stdout

    bad = run_tool([
        'tools/visualization/vis_cam.py',
        osp.join(sim_data_dir, 'images'), cfg, ckpt, '--target-layers',
        'backbone.layer5', '--out-dir', str(tmp / 'bad')
    ])
    assert bad.returncode == 2
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1, bad.stderr
    assert 'backbone.layer5' in lines[0] and 'backbone.layer4' in lines[0]
    assert not (tmp / 'bad').exists()


def test_vis_cam_inferencer_bad_inputs(tiny_cls, sim_data_dir):
    cfg, ckpt, tmp = tiny_cls
    img = osp.join(sim_data_dir, 'images', '000000.png')
    with pytest.raises(FileNotFoundError,
                       match='image file or folder not found'):
        image_files(img + '.missing')
    with pytest.raises(FileNotFoundError, match='config file not found'):
        GradCAMInferencer(cfg + '.missing', ckpt)
    with pytest.raises(FileNotFoundError, match='checkpoint file not found'):
        GradCAMInferencer(cfg, ckpt + '.missing')
    inferencer = GradCAMInferencer(cfg, ckpt)
    with pytest.raises(ValueError, match='out of range'):
        inferencer(img, target_category=7)
    # one image, explicit class and two layers averaged
    out = tmp / 'single'
    inferencer = GradCAMInferencer(
        cfg, ckpt, target_layers=['backbone.layer3', 'backbone.layer4'])
    res = inferencer(img, target_category=0, img_out_dir=str(out))
    assert [p.name for p in out.iterdir()] == ['000000_cam.png']
    pred = res['predictions'][0]
    assert pred['target'] == 0 and pred['cam'].shape == (64, 64)
    assert res['visualization'][0].shape == (256, 512, 3)
    # the map is the package's Grad-CAM of both layers on the same input
    data = inferencer.collate_fn([inferencer.pipeline(img)])
    x = inferencer.model.data_preprocessor(data, False)['inputs']
    direct = GradCAM(inferencer.model, ['backbone.layer3',
                                        'backbone.layer4'])(x, 0)[0]
    np.testing.assert_allclose(pred['cam'], direct.numpy(), atol=1e-6)
    assert 0 <= pred['cam'].min() and abs(pred['cam'].max() - 1) < 1e-5
    # a layer the forward pass does not use: one line naming the flag
    unused = GradCAMInferencer(cfg, ckpt, target_layers=['data_preprocessor'])
    with pytest.raises(ValueError, match='--target-layers: .*not all were '
                       'used'):
        unused(img)


def test_cam_inferencer_on_a_segmentor(tmp_path, sim_data_dir, repo_root):
    """The UPerNet benchmark config (GroupKFoldDataset-wrapped, annotation
    loading dropped), in-process at 64 px with a random checkpoint."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS
    base = osp.join(repo_root,
                    'configs/benchmarks/seg_upernet_r18_simulated_lesion.py')
    cfg_path = tmp_path / 'seg_tiny.py'
    cfg_path.write_text(f"""
_base_ = {base!r}
_pipe = [dict(type='LoadImageFromFile'),
         dict(type='Resize', scale=(64, 64), keep_ratio=True),
         dict(type='LoadMergedAnnotations'), dict(type='PackSegInputs')]
test_dataloader = dict(dataset=dict(dataset=dict(
    data_root={sim_data_dir!r}, pipeline=_pipe)))
""")
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(Config.fromfile(str(cfg_path)).model)
    ckpt = tmp_path / 'seg.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, str(ckpt))
    out = tmp_path / 'out'
    img = osp.join(sim_data_dir, 'images', '000001.png')
    GradCAMInferencer(str(cfg_path), str(ckpt))(img, target_category=1,
                                                 img_out_dir=str(out))
    panel = cv2.imread(str(out / '000001_cam.png'))
    assert panel.shape == (256, 512, 3)
