"""ANAUS losses on hand-built inputs, checked against loop-based formulas."""
import math

import pytest
import torch
import torch.nn.functional as F

from anaus_mm.models.losses import (AnatomyAlignmentLoss,
                                    CoreRegionPredictionLoss)


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
    torch.manual_seed(0)
    q = torch.randn(2, 3, 4)
    z = torch.randn(2, 3, 4)
    ids = torch.tensor([[0, 0, 1], [2, 1, 2]])  # duplicates share the mass
    counts = (ids.unsqueeze(2) == ids.unsqueeze(1)).sum(-1)
    ok = torch.ones(2, 3, dtype=torch.bool)
    loss = AnatomyAlignmentLoss(temperature=0.1)(q, z, ids, ok, ok, counts)
    assert loss.item() == pytest.approx(_hand_align(q, z, ids, 0.1),
                                        rel=1e-5)


def test_alignment_two_images_two_anatomies_known_value():
    # q == z, orthogonal anatomies: positives dominate strongly
    e = torch.eye(4)
    q = torch.stack([e[:2], e[2:]])  # image0: ids 0,1 ; image1: ids 0,1
    ids = torch.tensor([[0, 1], [0, 1]])
    ok = torch.ones(2, 2, dtype=torch.bool)
    counts = torch.ones(2, 2, dtype=torch.long)
    loss = AnatomyAlignmentLoss(temperature=0.1)(q, q.clone(), ids, ok, ok,
                                                 counts)
    # each query: logit 10 for its positive, 0 for three negatives
    expected = -math.log(math.exp(10) / (math.exp(10) + 3))
    assert loss.item() == pytest.approx(expected, abs=1e-7)


def test_alignment_absent_rois_are_masked():
    torch.manual_seed(1)
    q, z = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    ids = torch.tensor([[0, 1, 2], [0, 1, 1]])
    counts = (ids.unsqueeze(2) == ids.unsqueeze(1)).sum(-1)
    q_ok = torch.tensor([[True, True, False], [True, True, True]])
    z_ok = torch.tensor([[True, False, True], [True, True, True]])
    loss = AnatomyAlignmentLoss(temperature=0.1)(q, z, ids, q_ok, z_ok,
                                                 counts)
    assert torch.isfinite(loss)
    assert loss.item() == pytest.approx(
        _hand_align(q, z, ids, 0.1, q_ok, z_ok), rel=1e-5)
    # zeros in absent targets must not change anything
    z2 = z.clone()
    z2[0, 1] = 0.
    loss2 = AnatomyAlignmentLoss(temperature=0.1)(q, z2, ids, q_ok, z_ok,
                                                  counts)
    assert loss2.item() == pytest.approx(loss.item(), rel=1e-6)


def test_relabelling_positives_as_negatives_raises_loss():
    torch.manual_seed(2)
    base = F.normalize(torch.randn(2, 2, 8), dim=-1)
    q = base + 0.05 * torch.randn_like(base)
    ids = torch.tensor([[0, 1], [0, 1]])
    ok = torch.ones(2, 2, dtype=torch.bool)
    loss_fn = AnatomyAlignmentLoss(temperature=0.1)
    good = loss_fn(q, base, ids, ok, ok)
    swapped = loss_fn(q, base[:, [1, 0]], ids, ok, ok)  # ids now mismatched
    assert swapped.item() > good.item() + 1.0


def test_single_id_image_degenerates_gracefully():
    q = torch.randn(2, 4, 8, requires_grad=True)
    z = torch.randn(2, 4, 8)
    ids = torch.zeros(2, 4, dtype=torch.long)  # background only
    counts = torch.full((2, 4), 4)
    ok = torch.ones(2, 4, dtype=torch.bool)
    loss = AnatomyAlignmentLoss()(q, z, ids, ok, ok, counts)
    assert torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(q.grad).all()
    # nothing valid at all: zero, still differentiable
    none = torch.zeros(2, 4, dtype=torch.bool)
    zero = AnatomyAlignmentLoss()(q, z, ids, none, ok, counts)
    assert zero.item() == 0. and zero.requires_grad


def test_gradient_does_not_reach_targets():
    q = torch.randn(2, 2, 4, requires_grad=True)
    z = torch.randn(2, 2, 4, requires_grad=True)
    ids = torch.tensor([[0, 1], [0, 1]])
    ok = torch.ones(2, 2, dtype=torch.bool)
    AnatomyAlignmentLoss()(q, z, ids, ok, ok).backward()
    assert q.grad is not None and z.grad is None


def test_core_loss_normalized_and_masked():
    q = torch.tensor([[[1., 0.], [0., 2.]], [[3., 4.], [1., 1.]]])
    z = torch.tensor([[[0., 1.], [0., 5.]], [[3., 4.], [-1., -1.]]])
    valid = torch.tensor([[True, True], [True, False]])
    counts = torch.tensor([[1, 1], [2, 2]])
    loss = CoreRegionPredictionLoss(loss_weight=1.0)(q, z, valid, counts)
    # per ROI 2 - 2 cos: [2, 0], [0, (masked)]; weights 1, 1, 0.5
    assert loss.item() == pytest.approx((2 + 0 + 0) / 2.5, abs=1e-6)
    mse = CoreRegionPredictionLoss(mode='mse', loss_weight=2.0)(
        q, z, valid, None)
    expected = 2.0 * ((1 + 1) / 2 + (0 + 9) / 2 + 0) / 3
    assert mse.item() == pytest.approx(expected, rel=1e-6)
    # views that do not overlap contribute nothing
    none = CoreRegionPredictionLoss()(q, z, torch.zeros(2, 2).bool())
    assert none.item() == 0.
