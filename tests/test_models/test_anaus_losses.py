"""ANAUS losses on hand-built inputs, checked against loop-based formulas.

The defaults follow DetCon's multi-ROI loss (Hénaff et al. 2021,
https://arxiv.org/abs/2103.10957): same-view negatives, mean of w·ℓ over the
B·K ROIs, the two view orders summed. The project's conventions before
2026-12 (``negatives='cross'``, ``reduction='weight_sum'``,
``symmetrize='mean'``) stay as options and are tested against the old
formula too.
"""
import itertools
import math
import threading

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import anaus_mm.models.losses.anatomy_alignment_loss as align_mod
from anaus_mm.models.heads import ANAUSHead
from anaus_mm.models.losses import (AnatomyAlignmentLoss,
                                    CoreRegionPredictionLoss)

OLD = dict(negatives='cross', reduction='weight_sum')  # before 2026-12
CONVENTIONS = list(itertools.product(('both', 'cross'),
                                     ('mean', 'weight_sum')))


def _counts(ids):
    return (ids.unsqueeze(2) == ids.unsqueeze(1)).sum(-1)


# --------------------------------------------------------------------------
# Loop-based float64 formula, written from the description of DetCon's loss
# (one view order a→b), independently of the module.
def _unit(v):
    n = math.sqrt(math.fsum(x * x for x in v))
    return [x / n for x in v]


def _dot(u, v):
    return math.fsum(x * y for x, y in zip(u, v))


def _loop_terms(q, zb, za, ids, q_ok, zb_ok, za_ok, tau, negatives,
                queries=None):
    """{(i, k): (w, ℓ)} for every query with a loss (present, ≥1 positive).

    Candidates of query (i, k): every present view-b target ROI (positives:
    image i, same id) and, with negatives='both', every present view-a
    target ROI except those of image i with the query's id.
    """
    q, zb, za = q.tolist(), zb.tolist(), za.tolist()
    ids, q_ok = ids.tolist(), q_ok.tolist()
    zb_ok, za_ok = zb_ok.tolist(), za_ok.tolist()
    n_img, k_rois = len(ids), len(ids[0])
    queries = range(n_img) if queries is None else queries
    terms = {}
    for i in queries:
        for k in range(k_rois):
            if not q_ok[i][k]:
                continue
            qv = _unit(q[i][k])
            cands = []  # (logit, is positive)
            for j in range(n_img):
                for l in range(k_rois):
                    if zb_ok[j][l]:
                        cands.append((_dot(qv, _unit(zb[j][l])) / tau,
                                      j == i and ids[j][l] == ids[i][k]))
            if negatives == 'both':
                for j in range(n_img):
                    for l in range(k_rois):
                        own = j == i and ids[j][l] == ids[i][k]
                        if za_ok[j][l] and not own:
                            cands.append((_dot(qv, _unit(za[j][l])) / tau,
                                          False))
            n_pos = sum(p for _, p in cands)
            if n_pos == 0:
                continue
            top = max(v for v, _ in cands)
            lse = top + math.log(math.fsum(math.exp(v - top)
                                           for v, _ in cands))
            loss = -math.fsum(v - lse for v, p in cands if p) / n_pos
            times = sum(ids[i][l] == ids[i][k] for l in range(k_rois))
            terms[(i, k)] = (1. / times, loss)
    return terms


def _reduce(terms, n_rois, reduction):
    if not terms:
        return 0.
    total = math.fsum(w * v for w, v in terms.values())
    if reduction == 'mean':
        return total / n_rois
    return total / math.fsum(w for w, _ in terms.values())


def _loop_align(q, zb, za, ids, q_ok, zb_ok, za_ok, tau, negatives,
                reduction):
    terms = _loop_terms(q, zb, za, ids, q_ok, zb_ok, za_ok, tau, negatives)
    return _reduce(terms, ids.numel(), reduction)


def _loop_core(p, t, ok, ids, reduction):
    p, t, ok, ids = p.tolist(), t.tolist(), ok.tolist(), ids.tolist()
    num, den, n = [], [], 0
    for i in range(len(ids)):
        for k in range(len(ids[0])):
            n += 1
            if not ok[i][k]:
                continue
            w = 1. / sum(x == ids[i][k] for x in ids[i])
            err = math.fsum((a - b)**2
                            for a, b in zip(_unit(p[i][k]), _unit(t[i][k])))
            num.append(w * err)
            den.append(w)
    if not num:
        return 0.
    return math.fsum(num) / (n if reduction == 'mean' else math.fsum(den))


def _random_inputs(seed, b=4, k=6, d=5):
    """float64 inputs with duplicated ids, absent ROIs, an image with a
    single id, an absent query and a query whose only positive is absent."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 4, (b, k), generator=g)
    ids[0] = torch.tensor([0, 0, 1, 2, 2, 2])[:k]  # id 1 sampled once
    ids[1] = 3  # single id (background only)
    q, zb, za = (torch.randn(b, k, d, generator=g, dtype=torch.float64)
                 for _ in range(3))
    q_ok, zb_ok, za_ok = (torch.rand(b, k, generator=g) > 0.2
                          for _ in range(3))
    q_ok[0, 2], zb_ok[0, 2] = True, False  # its only positive is absent
    q_ok[2, 0] = False  # absent query
    zb_ok[1, :2] = True  # the single-id image keeps positives
    return q, zb, za, ids, q_ok, zb_ok, za_ok


# --------------------------------------------------------------------------
# Every convention against the loop formula
@pytest.mark.parametrize('seed', [0, 1, 2])
@pytest.mark.parametrize('negatives,reduction', CONVENTIONS)
def test_alignment_matches_loop_formula(negatives, reduction, seed):
    q, zb, za, ids, q_ok, zb_ok, za_ok = _random_inputs(seed)
    loss = AnatomyAlignmentLoss(temperature=0.1, negatives=negatives,
                                reduction=reduction)(
        q, zb, ids, q_ok, zb_ok, _counts(ids), same_target=za,
        same_valid=za_ok)
    expected = _loop_align(q, zb, za, ids, q_ok, zb_ok, za_ok, 0.1,
                           negatives, reduction)
    assert loss.dtype == torch.float64
    assert loss.item() == pytest.approx(expected, rel=1e-10, abs=1e-12)


def test_alignment_defaults_are_detcon():
    q, zb, za, ids, q_ok, zb_ok, za_ok = _random_inputs(3)
    loss_fn = AnatomyAlignmentLoss()
    assert (loss_fn.negatives, loss_fn.reduction) == ('both', 'mean')
    loss = loss_fn(q, zb, ids, q_ok, zb_ok, _counts(ids), za, za_ok)
    assert loss.item() == pytest.approx(
        _loop_align(q, zb, za, ids, q_ok, zb_ok, za_ok, 0.1, 'both',
                    'mean'), rel=1e-10)
    # same_valid defaults to pred_valid (views pooled from the same masks)
    loss_q = loss_fn(q, zb, ids, q_ok, zb_ok, _counts(ids), za)
    assert loss_q.item() == pytest.approx(
        _loop_align(q, zb, za, ids, q_ok, zb_ok, q_ok, 0.1, 'both', 'mean'),
        rel=1e-10)
    with pytest.raises(ValueError, match='same_target'):
        loss_fn(q, zb, ids, q_ok, zb_ok, _counts(ids))
    with pytest.raises(ValueError, match='negatives'):
        AnatomyAlignmentLoss(negatives='same')
    with pytest.raises(ValueError, match='reduction'):
        AnatomyAlignmentLoss(reduction='sum')


def test_alignment_without_counts_weighs_every_roi_one():
    q, zb, za, ids, q_ok, zb_ok, za_ok = _random_inputs(4)
    for negatives, reduction in CONVENTIONS:
        loss = AnatomyAlignmentLoss(negatives=negatives, reduction=reduction)(
            q, zb, ids, q_ok, zb_ok, None, za, za_ok)
        terms = _loop_terms(q, zb, za, ids, q_ok, zb_ok, za_ok, 0.1,
                            negatives)
        ones = {key: (1., v) for key, (_, v) in terms.items()}
        assert loss.item() == pytest.approx(
            _reduce(ones, ids.numel(), reduction), rel=1e-10)


class _Identity(nn.Module):
    """Predictor stand-in: the head's losses see the projections as is."""

    def forward(self, x, valid=None):
        return x


@pytest.mark.parametrize('symmetrize', ['sum', 'mean'])
@pytest.mark.parametrize('negatives,reduction', CONVENTIONS)
def test_head_matches_loop_formula(symmetrize, negatives, reduction):
    """Both view orders (view a's targets as same-view negatives) combined
    by ``symmetrize``, and the core loss with the same reduction."""
    q1, z2, z1, ids, ok1, ok2, _ = _random_inputs(5)
    g = torch.Generator().manual_seed(6)
    q2, pc, zc = (torch.randn(q1.shape, generator=g, dtype=torch.float64)
                  for _ in range(3))
    okc_on, okc_t = (torch.rand(ids.shape, generator=g) > 0.2
                     for _ in range(2))
    core_valid = torch.tensor([True, False, True, True])
    head = ANAUSHead(
        predictor=dict(type='RoIMLP', in_channels=5, hid_channels=8,
                       out_channels=5),
        num_scales=1, symmetrize=symmetrize,
        align_loss=dict(type='AnatomyAlignmentLoss', temperature=0.2,
                        negatives=negatives, reduction=reduction),
        core_loss=dict(type='CoreRegionPredictionLoss', loss_weight=1.0,
                       reduction=reduction))
    head.predictors = nn.ModuleList([_Identity()])
    # online view validity equals the target's: same masks, same ids
    online = [(q1, ok1), (q2, ok2), (pc, okc_on)]
    target = [(z1, ok1), (z2, ok2), (zc, okc_t)]
    align, core = head.loss(0, online, target, ids, _counts(ids), core_valid)
    l12 = _loop_align(q1, z2, z1, ids, ok1, ok2, ok1, 0.2, negatives,
                      reduction)
    l21 = _loop_align(q2, z1, z2, ids, ok2, ok1, ok2, 0.2, negatives,
                      reduction)
    expected = l12 + l21 if symmetrize == 'sum' else 0.5 * (l12 + l21)
    assert align.item() == pytest.approx(expected, rel=1e-10)
    core_ok = okc_on & okc_t & core_valid.view(-1, 1)
    assert core.item() == pytest.approx(
        _loop_core(pc, zc, core_ok, ids, reduction), rel=1e-10)


def test_head_defaults_are_detcon():
    head = ANAUSHead(predictor=dict(type='RoIMLP', in_channels=4,
                                    hid_channels=8, out_channels=4),
                     num_scales=1)
    assert head.symmetrize == 'sum'
    assert (head.align_loss.negatives, head.align_loss.reduction) == ('both',
                                                                      'mean')
    assert head.core_loss.reduction == 'mean'
    with pytest.raises(ValueError, match='symmetrize'):
        ANAUSHead(num_scales=1, symmetrize='max')


# --------------------------------------------------------------------------
# Two ranks with unequal batches: mmengine's collectives mocked by two
# threads that exchange tensors, so gather_rois (padding included) runs.
def _run_two_ranks(monkeypatch, fn):
    local = threading.local()
    barrier = threading.Barrier(2, timeout=60)
    slots = [None, None]

    def fake_all_gather(t):
        slots[local.rank] = t.clone()
        barrier.wait()
        assert slots[0].shape == slots[1].shape  # like a real all_gather
        out = [s.clone() for s in slots]
        barrier.wait()
        return out

    monkeypatch.setattr(align_mod, 'get_world_size', lambda: 2)
    monkeypatch.setattr(align_mod, 'get_rank', lambda: local.rank)
    monkeypatch.setattr(align_mod, 'all_gather', fake_all_gather)
    results, errors = [None, None], []

    def worker(rank):
        local.rank = rank
        try:
            results[rank] = fn(rank)
        except BaseException as e:  # noqa: B902 - re-raised below
            errors.append(e)
            barrier.abort()

    threads = [threading.Thread(target=worker, args=(r, )) for r in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


@pytest.mark.parametrize('negatives,reduction', CONVENTIONS)
def test_two_ranks_match_loop_formula(monkeypatch, negatives, reduction):
    """Rank r's loss over the targets of both ranks (2 + 3 images) is the
    loop formula over the whole batch restricted to r's queries, reduced
    over r's B_r·K ROIs (or r's Σw); the single-process loss of the whole
    batch is their pooled mean."""
    q, zb, za, ids, q_ok, zb_ok, za_ok = _random_inputs(7, b=5, k=4)
    ids[0] = torch.tensor([0, 0, 1, 2])
    counts = _counts(ids)
    bounds = [(0, 2), (2, 5)]
    loss_fn = AnatomyAlignmentLoss(temperature=0.1, negatives=negatives,
                                   reduction=reduction)

    def rank_loss(rank):
        s = slice(*bounds[rank])
        return loss_fn(q[s], zb[s], ids[s], q_ok[s], zb_ok[s], counts[s],
                       same_target=za[s], same_valid=za_ok[s]).item()

    losses = _run_two_ranks(monkeypatch, rank_loss)
    k = ids.shape[1]
    per_rank = [_loop_terms(q, zb, za, ids, q_ok, zb_ok, za_ok, 0.1,
                            negatives, queries=range(lo, hi))
                for lo, hi in bounds]
    for loss, terms, (lo, hi) in zip(losses, per_rank, bounds):
        assert loss == pytest.approx(
            _reduce(terms, (hi - lo) * k, reduction), rel=1e-10)
    single = AnatomyAlignmentLoss(temperature=0.1, negatives=negatives,
                                  reduction=reduction, gather=False)(
        q, zb, ids, q_ok, zb_ok, counts, za, za_ok).item()
    if reduction == 'mean':
        weights = [hi - lo for lo, hi in bounds]  # B_r, as DDP with B_r·K
    else:
        weights = [sum(w for w, _ in t.values()) for t in per_rank]
    pooled = sum(w * v for w, v in zip(weights, losses)) / sum(weights)
    assert single == pytest.approx(pooled, rel=1e-10)


# --------------------------------------------------------------------------
# The pre-2026-12 formula (view-b negatives, Σw·ℓ/Σw), as it was written
def _hand_align(q, z, ids, tau, q_ok=None, z_ok=None):
    """InfoNCE with soft same-id positives, written with plain loops."""
    b, k, _ = q.shape
    q_ok = q_ok if q_ok is not None else torch.ones(b, k, dtype=torch.bool)
    z_ok = z_ok if z_ok is not None else torch.ones(b, k, dtype=torch.bool)
    num, den = 0., 0.
    for i in range(b):
        for a in range(k):
            if not q_ok[i, a]:
                continue
            qa = q[i, a] / q[i, a].norm()
            logits, positive = [], []
            for j in range(b):
                for c in range(k):
                    if not z_ok[j, c]:
                        continue
                    zc = z[j, c] / z[j, c].norm()
                    logits.append(float(qa @ zc) / tau)
                    positive.append(j == i and int(ids[j, c]) == int(ids[i,
                                                                         a]))
            if not any(positive):
                continue
            log_norm = math.log(sum(math.exp(v) for v in logits))
            n_pos = sum(positive)
            roi = -sum((v - log_norm) / n_pos
                       for v, p in zip(logits, positive) if p)
            times = sum(int(ids[i, c]) == int(ids[i, a]) for c in range(k))
            num += roi / times
            den += 1. / times
    return num / den


def test_alignment_matches_hand_formula():
    # the old options against the old formula (the defaults changed to
    # DetCon's in 2026-12; see test_alignment_matches_loop_formula)
    torch.manual_seed(0)
    q = torch.randn(2, 3, 4)
    z = torch.randn(2, 3, 4)
    ids = torch.tensor([[0, 0, 1], [2, 1, 2]])  # duplicates share the mass
    counts = (ids.unsqueeze(2) == ids.unsqueeze(1)).sum(-1)
    ok = torch.ones(2, 3, dtype=torch.bool)
    loss = AnatomyAlignmentLoss(temperature=0.1, **OLD)(q, z, ids, ok, ok,
                                                        counts)
    assert loss.item() == pytest.approx(_hand_align(q, z, ids, 0.1),
                                        rel=1e-5)


def test_alignment_two_images_two_anatomies_known_value():
    # q == z, orthogonal anatomies: positives dominate strongly (float64:
    # the loss is 10 - logsumexp ~ 3e-4, a difference of two numbers near
    # 10, which float32 resolves only to ~1e-6)
    e = torch.eye(4, dtype=torch.float64)
    q = torch.stack([e[:2], e[2:]])  # image0: ids 0,1 ; image1: ids 0,1
    ids = torch.tensor([[0, 1], [0, 1]])
    ok = torch.ones(2, 2, dtype=torch.bool)
    counts = torch.ones(2, 2, dtype=torch.long)
    loss = AnatomyAlignmentLoss(temperature=0.1, **OLD)(q, q.clone(), ids,
                                                        ok, ok, counts)
    # old options: logit 10 for its positive, 0 for three negatives
    expected = -math.log(math.exp(10) / (math.exp(10) + 3))
    assert loss.item() == pytest.approx(expected, abs=1e-12)
    # default (changed in 2026-12): the same view's three other ROIs are
    # negatives too (logit 0 each), and the mean over the 4 ROIs of weight 1
    # is the same per-ROI value
    loss = AnatomyAlignmentLoss(temperature=0.1)(q, q.clone(), ids, ok, ok,
                                                 counts,
                                                 same_target=q.clone())
    expected = -math.log(math.exp(10) / (math.exp(10) + 6))
    assert loss.item() == pytest.approx(expected, abs=1e-12)


def test_alignment_absent_rois_are_masked():
    torch.manual_seed(1)
    q, z = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    ids = torch.tensor([[0, 1, 2], [0, 1, 1]])
    counts = (ids.unsqueeze(2) == ids.unsqueeze(1)).sum(-1)
    q_ok = torch.tensor([[True, True, False], [True, True, True]])
    z_ok = torch.tensor([[True, False, True], [True, True, True]])
    # old options against the old formula (defaults changed in 2026-12)
    loss = AnatomyAlignmentLoss(temperature=0.1, **OLD)(q, z, ids, q_ok,
                                                        z_ok, counts)
    assert torch.isfinite(loss)
    assert loss.item() == pytest.approx(
        _hand_align(q, z, ids, 0.1, q_ok, z_ok), rel=1e-5)
    # zeros in absent targets must not change anything, in every convention
    za = torch.randn(2, 3, 4)
    z2, za2 = z.clone(), za.clone()
    z2[0, 1] = 0.
    za2[0, 2] = 0.
    for negatives, reduction in CONVENTIONS:
        loss_fn = AnatomyAlignmentLoss(negatives=negatives,
                                       reduction=reduction)
        ref = loss_fn(q, z, ids, q_ok, z_ok, counts, za, q_ok)
        zeroed = loss_fn(q, z2, ids, q_ok, z_ok, counts, za2, q_ok)
        assert torch.isfinite(ref)
        assert zeroed.item() == pytest.approx(ref.item(), rel=1e-6)


@pytest.mark.parametrize('negatives,reduction', CONVENTIONS)
def test_relabelling_positives_as_negatives_raises_loss(negatives,
                                                        reduction):
    torch.manual_seed(2)
    base = F.normalize(torch.randn(2, 2, 8), dim=-1)
    q = base + 0.05 * torch.randn_like(base)
    ids = torch.tensor([[0, 1], [0, 1]])
    ok = torch.ones(2, 2, dtype=torch.bool)
    loss_fn = AnatomyAlignmentLoss(temperature=0.1, negatives=negatives,
                                   reduction=reduction)
    good = loss_fn(q, base, ids, ok, ok, same_target=base)
    # ids now mismatched
    swapped = loss_fn(q, base[:, [1, 0]], ids, ok, ok,
                      same_target=base[:, [1, 0]])
    assert swapped.item() > good.item() + 1.0


@pytest.mark.parametrize('negatives,reduction', CONVENTIONS)
def test_single_id_image_degenerates_gracefully(negatives, reduction):
    q = torch.randn(2, 4, 8, requires_grad=True)
    z = torch.randn(2, 4, 8)
    ids = torch.zeros(2, 4, dtype=torch.long)  # background only
    counts = torch.full((2, 4), 4)
    ok = torch.ones(2, 4, dtype=torch.bool)
    loss_fn = AnatomyAlignmentLoss(negatives=negatives, reduction=reduction)
    loss = loss_fn(q, z, ids, ok, ok, counts, same_target=z.flip(0))
    assert torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(q.grad).all()
    # nothing valid at all: zero, still differentiable
    none = torch.zeros(2, 4, dtype=torch.bool)
    zero = loss_fn(q, z, ids, none, ok, counts, same_target=z)
    assert zero.item() == 0. and zero.requires_grad


def test_gradient_does_not_reach_targets():
    q = torch.randn(2, 2, 4, requires_grad=True)
    z = torch.randn(2, 2, 4, requires_grad=True)
    za = torch.randn(2, 2, 4, requires_grad=True)
    ids = torch.tensor([[0, 1], [0, 1]])
    ok = torch.ones(2, 2, dtype=torch.bool)
    AnatomyAlignmentLoss()(q, z, ids, ok, ok, same_target=za).backward()
    assert q.grad is not None and z.grad is None and za.grad is None


def test_core_loss_normalized_and_masked():
    q = torch.tensor([[[1., 0.], [0., 2.]], [[3., 4.], [1., 1.]]])
    z = torch.tensor([[[0., 1.], [0., 5.]], [[3., 4.], [-1., -1.]]])
    valid = torch.tensor([[True, True], [True, False]])
    counts = torch.tensor([[1, 1], [2, 2]])
    # per ROI 2 - 2 cos: [2, 0], [0, (masked)]; weights 1, 1, 0.5
    old = CoreRegionPredictionLoss(loss_weight=1.0, reduction='weight_sum')(
        q, z, valid, counts)
    assert old.item() == pytest.approx((2 + 0 + 0) / 2.5, abs=1e-6)
    # default (changed in 2026-12): mean of w·err over the B·K = 4 ROIs
    loss = CoreRegionPredictionLoss(loss_weight=1.0)(q, z, valid, counts)
    assert loss.item() == pytest.approx((2 + 0 + 0) / 4, abs=1e-6)
    mse = CoreRegionPredictionLoss(mode='mse', loss_weight=2.0,
                                   reduction='weight_sum')(q, z, valid, None)
    expected = 2.0 * ((1 + 1) / 2 + (0 + 9) / 2 + 0) / 3
    assert mse.item() == pytest.approx(expected, rel=1e-6)
    mse = CoreRegionPredictionLoss(mode='mse', loss_weight=2.0)(q, z, valid,
                                                                None)
    assert mse.item() == pytest.approx(2.0 * (1 + 4.5 + 0) / 4, rel=1e-6)
    # views that do not overlap contribute nothing
    for reduction in ('mean', 'weight_sum'):
        none = CoreRegionPredictionLoss(reduction=reduction)(
            q, z, torch.zeros(2, 2).bool())
        assert none.item() == 0.
    with pytest.raises(ValueError, match='reduction'):
        CoreRegionPredictionLoss(reduction='sum')
