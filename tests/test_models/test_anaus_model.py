"""The ANAUS algorithm: gradient routing, EMA cadence, build-time checks,
non-finite loss hook, and the 2-process gathered negatives."""
import math
import os
import socket

import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub

from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample


def tiny_cfg(**kw):
    cfg = dict(
        type='ANAUS',
        backbone=dict(type='ResNet', depth=18, out_indices=(0, 1, 2, 3),
                      norm_cfg=dict(type='BN')),
        neck=dict(type='AnatomyFPN', in_channels=[64, 128, 256, 512],
                  out_channels=16),
        projector=dict(type='RoIMLP', in_channels=16, hid_channels=32,
                       out_channels=8),
        head=dict(type='ANAUSHead',
                  predictor=dict(type='RoIMLP', in_channels=8,
                                 hid_channels=32, out_channels=8)),
        num_rois=4,
        data_preprocessor=dict(type='SelfSupDataPreprocessor',
                               mean=[128.] * 3, std=[64.] * 3))
    cfg.update(kw)
    return cfg


def fake_batch(b=2, size=32, seed=0, single_id=False):
    g = torch.Generator().manual_seed(seed)
    inputs = [torch.randn(b, 3, size, size, generator=g) for _ in range(3)]
    samples = []
    for i in range(b):
        m = torch.zeros(3, size, size, dtype=torch.uint8)
        if not single_id:
            m[:, :, size // 2:] = 1
            m[:, size // 2:, :size // 4] = 2
        s = DataSample()
        s.set_field(m, 'view_masks')
        s.set_field(torch.tensor([i % 2 == 0]), 'core_valid')
        samples.append(s)
    return inputs, samples


def test_gradients_reach_only_online_branch():
    MessageHub.get_current_instance().update_info('max_iters', 10)
    torch.manual_seed(0)
    model = MODELS.build(tiny_cfg())
    inputs, samples = fake_batch()
    losses = model.loss(inputs, samples)
    assert sorted(losses) == sorted(
        [f'loss_align_s{s}' for s in range(4)] +
        [f'loss_core_s{s}' for s in range(4)])
    sum(losses.values()).backward()
    online = [model.backbone, model.neck, model.projectors, model.head]
    for module in online:
        grads = [p.grad for p in module.parameters()]
        assert all(g is not None for g in grads), type(module).__name__
        assert sum(float(g.abs().sum()) for g in grads) > 0
    for p in model.target_net.parameters():
        assert p.grad is None and not p.requires_grad


@pytest.mark.parametrize('head_kw,scales,terms', [
    (dict(num_scales=2), 2, ('align', 'core')),
    (dict(num_scales=1, core_loss=None), 1, ('align', )),
    (dict(align_loss=None), 4, ('core', )),
])
def test_ablations_select_scales_and_terms(head_kw, scales, terms):
    """S < 4 uses the coarsest levels; a None loss removes its term (and,
    for the core loss, the core views)."""
    MessageHub.get_current_instance().update_info('max_iters', 10)
    torch.manual_seed(0)
    cfg = tiny_cfg()
    cfg['head'].update(head_kw)
    model = MODELS.build(cfg)
    assert len(model.projectors) == scales
    seen = []
    for backbone in (model.backbone, model.target_net.module.backbone):
        backbone.register_forward_hook(
            lambda mod, args, out: seen.append(args[0].shape[0]))
    inputs, samples = fake_batch(size=32)
    losses = model.loss(inputs, samples)
    assert sorted(losses) == sorted(f'loss_{t}_s{s}' for t in terms
                                    for s in range(scales))
    # online + target passes: 3 inputs of 2 images, or 2 without core views
    per_pass = 2 * (3 if 'core' in terms else 2)
    assert seen == [per_pass, per_pass]
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    with torch.no_grad():
        used = model._pyramid(model.backbone, model.neck, [inputs[0]])
        full = model.neck(model.backbone(inputs[0]))
    assert [u.shape for u in used] == [f.shape for f in full[-scales:]]


def test_head_needs_a_loss():
    cfg = tiny_cfg()
    cfg['head'].update(align_loss=None, core_loss=None)
    with pytest.raises(ValueError, match='at least one'):
        MODELS.build(cfg)


def test_target_moves_exactly_once_per_iteration():
    max_iters = 4
    MessageHub.get_current_instance().update_info('max_iters', max_iters)
    torch.manual_seed(0)
    model = MODELS.build(tiny_cfg(base_momentum=0.01, end_momentum=0.))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    target = lambda: model.target_net.module.neck.lateral_convs[0].weight
    online = lambda: model.neck.lateral_convs[0].weight
    for it in range(3):
        prev_t, prev_o = target().detach().clone(), online().detach().clone()
        losses = model.loss(*fake_batch(seed=it))
        assert int(model.target_net.steps) == it + 1  # one update per iter
        if it == 0:  # first update copies the online weights
            assert torch.equal(target(), prev_o)
        else:  # one cosine-EMA step: t <- (1 - m) t + m o
            m = 0. - (0. - 0.01) * (math.cos(math.pi * it / max_iters) +
                                    1) / 2
            assert torch.allclose(target(), (1 - m) * prev_t + m * prev_o,
                                  atol=1e-6)
        opt.zero_grad()
        sum(losses.values()).backward()
        opt.step()


def test_single_id_masks_still_train():
    MessageHub.get_current_instance().update_info('max_iters', 10)
    torch.manual_seed(0)
    model = MODELS.build(tiny_cfg())
    losses = model.loss(*fake_batch(single_id=True))
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.backbone.parameters())


def test_too_few_backbone_levels_fail_at_build():
    cfg = tiny_cfg()
    cfg['backbone']['out_indices'] = (2, 3)
    with pytest.raises(ValueError, match='needs 4 feature levels.*gives 2'):
        MODELS.build(cfg)
    from anaus_mm.models.necks import AnatomyFPN
    with pytest.raises(ValueError, match='needs 4 feature level.*got 2'):
        AnatomyFPN()([torch.zeros(1, 256, 4, 4), torch.zeros(1, 512, 2, 2)])


def test_vit_simple_feature_pyramid_scales():
    from anaus_mm.models.necks import SimpleFeaturePyramid
    backbone = MODELS.build(dict(type='VisionTransformer', arch=dict(
        embed_dims=32, num_layers=1, num_heads=2, feedforward_channels=64),
        img_size=64, patch_size=16, out_type='featmap', out_indices=-1))
    neck = SimpleFeaturePyramid(in_channels=32, out_channels=8)
    outs = neck(backbone(torch.rand(2, 3, 64, 64)))
    assert [tuple(o.shape[-2:]) for o in outs] == [(16, 16), (8, 8), (4, 4),
                                                  (2, 2)]


def test_nonfinite_loss_hook_names_iteration_and_term():
    from anaus_mm.engine.hooks import NonFiniteLossHook

    class R:
        iter = 6
    hook = NonFiniteLossHook()
    hook.after_train_iter(R(), 0, outputs=dict(loss_core_s1=torch.tensor(1.)))
    with pytest.raises(Exception, match=r'iteration 7: loss_core_s1 = nan'):
        hook.after_train_iter(R(), 0, outputs=dict(
            loss_align_s0=torch.tensor(1.),
            loss_core_s1=torch.tensor(float('nan'))))


_DIST_SCRIPT = r"""
import os, sys
import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def worker(rank, port, out_dir):
    # load the loss module by path: importing the whole package in each
    # spawned process would cost seconds
    import importlib.util
    spec = importlib.util.spec_from_file_location('align_loss', LOSS_FILE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    AnatomyAlignmentLoss, gather_rois = mod.AnatomyAlignmentLoss, mod.gather_rois
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}',
                            rank=rank, world_size=2)
    # rank r holds 1 + r images (uneven), 2 ROIs each, ids (0, 1)
    b = 1 + rank
    z = torch.full((b, 2, 3), float(rank + 1))
    ids = torch.tensor([[0, 1]] * b)
    ok = torch.ones(b, 2, dtype=torch.bool)
    (gz, gids, gok), offset = gather_rois(z, ids, ok)
    torch.manual_seed(rank)
    q = torch.randn(b, 2, 3)
    loss = AnatomyAlignmentLoss(temperature=0.1)(q, torch.randn(b, 2, 3),
                                                 ids, ok, ok)
    torch.save(dict(gz=gz, gids=gids, offset=offset, loss=loss),
               os.path.join(out_dir, f'rank{rank}.pt'))
    dist.destroy_process_group()


if __name__ == '__main__':
    mp.spawn(worker, args=(int(sys.argv[1]), sys.argv[2]), nprocs=2,
             join=True)
"""


def test_two_process_gather_includes_other_rank_targets(tmp_path):
    import subprocess
    import sys
    script = tmp_path / 'dist_gather.py'
    import anaus_mm.models.losses.anatomy_alignment_loss as loss_mod
    script.write_text(f'LOSS_FILE = {loss_mod.__file__!r}\n' + _DIST_SCRIPT)
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    proc = subprocess.run([sys.executable, str(script), str(port),
                           str(tmp_path)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    r0 = torch.load(tmp_path / 'rank0.pt')
    r1 = torch.load(tmp_path / 'rank1.pt')
    for r in (r0, r1):
        assert r['gz'].shape == (3, 2, 3)  # 1 + 2 images
        assert r['gz'][0].unique().tolist() == [1.]  # rank 0's targets
        assert r['gz'][1:].unique().tolist() == [2.]  # rank 1's targets
        assert torch.isfinite(r['loss'])
    assert (r0['offset'], r1['offset']) == (0, 1)
