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
        neck=dict(type='mmseg.FPN', in_channels=[64, 128, 256, 512],
                  out_channels=16, num_outs=4),
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
    # online + target passes: 2 views of 2 images, plus the one core view
    # whose views overlap (sample 0; sample 1's placeholder never enters a
    # pass or a BatchNorm statistic), none without a core loss
    per_pass = 2 * 2 + (1 if 'core' in terms else 0)
    assert seen == [per_pass, per_pass]
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    with torch.no_grad():
        used = model._pyramid(model.backbone, model.neck, [inputs[0]])
        full = model.neck(model.backbone(inputs[0]))
    assert [u.shape for u in used] == [f.shape for f in full[-scales:]]


def test_core_scale_runs_the_core_views_at_reduced_size():
    MessageHub.get_current_instance().update_info('max_iters', 10)
    torch.manual_seed(0)
    model = MODELS.build(tiny_cfg(core_scale=0.5))
    shapes = []
    model.backbone.register_forward_hook(
        lambda mod, args, out: shapes.append(tuple(args[0].shape)))
    inputs, samples = fake_batch(b=4, size=64)
    losses = model.loss(inputs, samples)
    # views together at 64 px, then the two valid cores at 32 px
    assert shapes == [(8, 3, 64, 64), (2, 3, 32, 32)]
    assert all(torch.isfinite(v) for v in losses.values())
    assert float(losses['loss_core_s0']) > 0


def test_no_valid_core_gives_an_exact_zero_core_term():
    MessageHub.get_current_instance().update_info('max_iters', 10)
    torch.manual_seed(0)
    model = MODELS.build(tiny_cfg())
    inputs, samples = fake_batch(b=2)
    for ds in samples:
        ds.set_field(torch.tensor([False]), 'core_valid')
    losses = model.loss(inputs, samples)
    assert all(float(losses[f'loss_core_s{s}']) == 0 for s in range(4))
    sum(losses.values()).backward()  # graph intact


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
    target = lambda: model.target_net.module.neck.lateral_convs[0].conv.weight
    online = lambda: model.neck.lateral_convs[0].conv.weight
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
    cfg = tiny_cfg()
    cfg['head']['num_scales'] = 5
    with pytest.raises(ValueError, match='neck gives 4 scales.*num_scales=5'):
        MODELS.build(cfg)
    from anaus_mm.models.necks import SimpleFeaturePyramid
    with pytest.raises(ValueError, match='needs 1 feature level.*got 0'):
        SimpleFeaturePyramid(in_channels=8, out_channels=8)([])


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


# Per-rank inputs of the 2-process test: rank r holds 1 + r images (uneven
# batches) with K = 3 ROIs each. Duplicated ids, absent targets, an absent
# query and a query whose only positive is absent are all covered.
_DIST_IDS = ([[0, 1, 1]], [[0, 2, 2], [1, 0, 3]])
_DIST_PRED_VALID = ([[1, 1, 1]], [[1, 1, 0], [1, 1, 1]])
_DIST_TARGET_VALID = ([[1, 1, 0]], [[1, 1, 1], [1, 1, 0]])
_DIST_TAU = 0.2
# (negatives, reduction): the default (DetCon) and the earlier conventions
_DIST_VARIANTS = (('both', 'mean'), ('cross', 'weight_sum'))

_DIST_SCRIPT = r"""
import os, sys
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from anaus_mm.models.losses.anatomy_alignment_loss import (
    AnatomyAlignmentLoss, gather_rois)


def worker(rank, port, out_dir):
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}',
                            rank=rank, world_size=2)
    ids = torch.tensor(IDS[rank])
    b, k = ids.shape
    pred_valid = torch.tensor(PRED_VALID[rank], dtype=torch.bool)
    target_valid = torch.tensor(TARGET_VALID[rank], dtype=torch.bool)
    # times each ROI's id was sampled in its image
    counts = (ids.unsqueeze(2) == ids.unsqueeze(1)).sum(2)
    g = torch.Generator().manual_seed(100 + rank)
    pred = torch.randn(b, k, 4, generator=g)
    target = torch.randn(b, k, 4, generator=g)
    same_target = torch.randn(b, k, 4, generator=g)
    (gz, gids, gok), offset = gather_rois(target, ids, target_valid)
    losses = [AnatomyAlignmentLoss(
        temperature=TAU, negatives=negatives, reduction=reduction)(
            pred, target, ids, pred_valid, target_valid, counts,
            same_target=same_target).detach()
        for negatives, reduction in VARIANTS]
    torch.save(dict(pred=pred, target=target, ids=ids, pred_valid=pred_valid,
                    target_valid=target_valid, counts=counts,
                    same_target=same_target, gz=gz, gids=gids, gok=gok,
                    offset=offset, losses=losses),
               os.path.join(out_dir, f'rank{rank}.pt'))
    dist.destroy_process_group()


if __name__ == '__main__':
    # forked workers share the package imported above (spawned ones would
    # each import it again: seconds)
    mp.start_processes(worker, args=(int(sys.argv[1]), sys.argv[2]),
                       nprocs=2, join=True, start_method='fork')
"""


def _hand_alignment_terms(pred, target, ids, pred_valid, target_valid,
                          counts, same_target, tau, negatives):
    """Per-query ``(weight, loss)`` of the alignment loss over one batch,
    written out from the formula in AnatomyAlignmentLoss's docstring: the
    candidates are the present view-b targets of every image and, with
    ``negatives='both'``, the present view-a targets (validity of the
    query's view) except the query's own id in its own image; the positives
    are the present view-b targets of the query's image with its id."""
    b, k, _ = pred.shape

    def unit(v):
        return v / v.norm()

    terms = {}
    for i in range(b):
        for a in range(k):
            positives = [('b', i, l) for l in range(k)
                         if target_valid[i, l] and ids[i, l] == ids[i, a]]
            if not pred_valid[i, a] or not positives:
                continue
            q = unit(pred[i, a])
            logits = {('b', j, l): float(q @ unit(target[j, l])) / tau
                      for j in range(b) for l in range(k)
                      if target_valid[j, l]}
            if negatives == 'both':
                logits.update({
                    ('a', j, l): float(q @ unit(same_target[j, l])) / tau
                    for j in range(b) for l in range(k)
                    if pred_valid[j, l] and not (
                        j == i and ids[j, l] == ids[i, a])})
            log_norm = math.log(sum(math.exp(v) for v in logits.values()))
            loss = -sum(logits[p] - log_norm
                        for p in positives) / len(positives)
            terms[(i, a)] = (1.0 / float(counts[i, a]), loss)
    return terms


def _reduce(terms, reduction, num_rois):
    """'mean': sum of w * loss over all B * K ROIs; 'weight_sum':
    sum(w * loss) / sum(w) over the kept queries."""
    total = sum(w * v for w, v in terms)
    if reduction == 'mean':
        return total / num_rois
    return total / sum(w for w, _ in terms)


def test_two_process_loss_equals_single_process_formula(tmp_path):
    """Each rank's loss, computed against the targets gathered from both
    ranks, is the single-process formula over the concatenated batch
    restricted to that rank's queries, and the ranks' losses pool to the
    single-process loss of the whole batch (default and earlier options)."""
    import subprocess
    import sys
    from anaus_mm.models.losses.anatomy_alignment_loss import \
        AnatomyAlignmentLoss
    script = tmp_path / 'dist_gather.py'
    script.write_text(
        f'IDS = {_DIST_IDS!r}\n'
        f'PRED_VALID = {_DIST_PRED_VALID!r}\n'
        f'TARGET_VALID = {_DIST_TARGET_VALID!r}\nTAU = {_DIST_TAU!r}\n'
        f'VARIANTS = {_DIST_VARIANTS!r}\n' + _DIST_SCRIPT)
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    proc = subprocess.run([sys.executable, str(script), str(port),
                           str(tmp_path)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ranks = [torch.load(tmp_path / f'rank{r}.pt', weights_only=True)
             for r in range(2)]
    assert (ranks[0]['offset'], ranks[1]['offset']) == (0, 1)
    keys = ('pred', 'target', 'ids', 'pred_valid', 'target_valid', 'counts',
            'same_target')
    whole = {key: torch.cat([r[key] for r in ranks]) for key in keys}
    for r in ranks:
        # every rank sees all 1 + 2 images' targets, rank 0's first
        assert torch.equal(r['gz'], whole['target'])
        assert torch.equal(r['gids'], whole['ids'])
        assert torch.equal(r['gok'], whole['target_valid'])
    num_rois = [r['ids'].numel() for r in ranks]  # B_r * K: 3 and 6
    for v, (negatives, reduction) in enumerate(_DIST_VARIANTS):
        terms = _hand_alignment_terms(*whole.values(), tau=_DIST_TAU,
                                      negatives=negatives)
        # the absent query (image 1, ROI 2) and the one whose only positive
        # is absent (image 2, ROI 2) contribute nothing
        assert sorted(terms) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1),
                                 (2, 0), (2, 1)]
        per_rank = [[t for (i, _), t in terms.items() if i == 0],
                    [t for (i, _), t in terms.items() if i >= 1]]
        for r, rank_terms, n in zip(ranks, per_rank, num_rois):
            assert r['losses'][v].item() == pytest.approx(
                _reduce(rank_terms, reduction, n), rel=1e-5,
                abs=1e-6), (negatives, reduction)
        # the same module in one process over the concatenated batch
        single = AnatomyAlignmentLoss(
            temperature=_DIST_TAU, gather=False, negatives=negatives,
            reduction=reduction)(*whole.values())
        assert single.item() == pytest.approx(
            _reduce(list(terms.values()), reduction, sum(num_rois)),
            rel=1e-5, abs=1e-6), (negatives, reduction)
        # ... pools the ranks' losses with their denominators as weights
        if reduction == 'mean':
            weights = num_rois
        else:
            weights = [sum(w for w, _ in t) for t in per_rank]
        pooled = sum(w * r['losses'][v].item()
                     for w, r in zip(weights, ranks)) / sum(weights)
        assert single.item() == pytest.approx(pooled, rel=1e-5)


def test_deduplicated_rois_give_the_same_losses_and_gradients():
    """dedupe_rois runs each (image, id) pair once through the MLPs with
    count-weighted BatchNorm: same losses, gradients and running
    statistics as one row per sampled ROI (float64)."""
    import copy
    MessageHub.get_current_instance().update_info('max_iters', 10)
    torch.manual_seed(0)
    ref = MODELS.build(tiny_cfg(dedupe_rois=False, iteration_seeded=False,
                                num_rois=8)).double()
    fast = copy.deepcopy(ref)
    fast.dedupe_rois = True
    inputs, samples = fake_batch(b=4, size=32)
    inputs = [x.double() for x in inputs]
    from anaus_mm.models.utils.roi_mlp import RoIMLP
    rows = []
    grouped = RoIMLP._grouped
    RoIMLP._grouped = lambda self, flat, valid, groups: (
        rows.append((flat.shape[0], groups.first.numel())),
        grouped(self, flat, valid, groups))[1]
    out = []
    for model in (ref, fast):
        torch.manual_seed(1)  # same ids and corruptions
        losses = model.loss(inputs, samples)
        sum(losses.values()).backward()
        out.append(losses)
    RoIMLP._grouped = grouped
    # only the second model grouped, and it had duplicates to group
    assert rows and all(distinct < total for total, distinct in rows)
    for key in out[0]:
        assert torch.allclose(out[0][key], out[1][key], atol=1e-10), key
    for (name, p), q in zip(ref.named_parameters(), fast.parameters()):
        if p.grad is not None:
            assert torch.allclose(p.grad, q.grad, atol=1e-9), name
    bn = [m for m in ref.head.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    bn2 = [m for m in fast.head.modules()
           if isinstance(m, torch.nn.BatchNorm1d)]
    for a, b in zip(bn, bn2):
        assert torch.allclose(a.running_var, b.running_var, atol=1e-10)
