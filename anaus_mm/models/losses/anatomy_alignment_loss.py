"""Anatomy-separating alignment loss of ANAUS.

ANAUS (https://arxiv.org/abs/2605.25402), method.md §2 "Loss 1".
"""
import torch
import torch.nn.functional as F
from mmengine.dist import all_gather, get_rank, get_world_size
from mmengine.model import BaseModule

from mmpretrain.registry import MODELS


def gather_rois(*tensors):
    """All-gather (B, ...) tensors across ranks (batch sizes may differ).

    Returns the concatenated tensors and the global index of this rank's
    first image. Without a process group this is the identity.
    """
    if get_world_size() == 1:
        return list(tensors), 0
    size = torch.tensor([tensors[0].shape[0]], device=tensors[0].device)
    sizes = [int(s) for s in all_gather(size)]
    offset = sum(sizes[:get_rank()])
    gathered = []
    for t in tensors:
        pad = max(sizes) - t.shape[0]
        if pad:
            t = torch.cat([t, t.new_zeros((pad, ) + tuple(t.shape[1:]))])
        parts = all_gather(t.contiguous())
        gathered.append(torch.cat([p[:n] for p, n in zip(parts, sizes)]))
    return gathered, offset


@MODELS.register_module()
class AnatomyAlignmentLoss(BaseModule):
    r"""InfoNCE with soft same-anatomy positives across views.

    For online prediction :math:`q_{ik}` (image *i*, ROI *k*, view a) and
    target projections :math:`z_{jl}` (view b, all images *j* of the global
    batch), both L2-normalised:

    .. math::
        \ell_{ik} = -\sum_{jl} p_{ik,jl}
            \log \frac{\exp(q_{ik}\cdot z_{jl}/\tau)}
                      {\sum_{j'l'} \exp(q_{ik}\cdot z_{j'l'}/\tau)}

    where :math:`p_{ik,jl}` is uniform over the positives (j = i and
    ``id_l == id_k``: same-id duplicates share the label mass) and zero
    elsewhere; negatives are the other anatomies of image *i* and every ROI
    of every other image (targets all-gathered across ranks). The loss is
    :math:`\sum w_{ik}\ell_{ik} / \sum w_{ik}` with
    :math:`w_{ik} = 1/\text{(times id}_k\text{ was sampled in image } i)`.

    Absent ROIs (the id has no cell in that view at that scale) are removed:
    an absent target is neither positive nor negative, an absent query or one
    without any present positive contributes nothing. An image with a single
    id (only background) keeps its same-id positives and other images as
    negatives; if no query is left the loss is 0 (graph kept for DDP).

    Args:
        temperature (float): τ. Defaults to 0.1.
        loss_weight (float): Multiplier. Defaults to 1.0.
        gather (bool): All-gather targets across ranks. Defaults to True.
    """

    def __init__(self, temperature=0.1, loss_weight=1.0, gather=True,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.temperature = temperature
        self.loss_weight = loss_weight
        self.gather = gather

    def forward(self, pred, target, ids, pred_valid, target_valid,
                counts=None):
        """pred/target (B, K, D); ids/valids/counts (B, K) → scalar."""
        b, k, _ = pred.shape
        q = F.normalize(pred, dim=-1).reshape(b * k, -1)
        z = F.normalize(target.detach(), dim=-1)
        if self.gather:
            (z, t_ids, t_valid), offset = gather_rois(z, ids, target_valid)
        else:
            t_ids, t_valid, offset = ids, target_valid, 0
        n = z.shape[0]
        z, t_ids, t_valid = (z.reshape(n * k, -1), t_ids.reshape(-1),
                             t_valid.reshape(-1))
        t_img = torch.arange(n, device=z.device).repeat_interleave(k)
        q_img = torch.arange(b, device=z.device).repeat_interleave(k) + offset
        logits = (q @ z.t()) / self.temperature
        logits = logits.masked_fill(~t_valid.unsqueeze(0), float('-inf'))
        pos = ((q_img.unsqueeze(1) == t_img.unsqueeze(0))
               & (ids.reshape(-1, 1) == t_ids.unsqueeze(0))
               & t_valid.unsqueeze(0)).to(q.dtype)
        num_pos = pos.sum(1)
        keep = pred_valid.reshape(-1) & (num_pos > 0)
        if not bool(keep.any()):
            return pred.sum() * 0.
        log_prob = torch.log_softmax(logits[keep], dim=1)
        label = pos[keep] / num_pos[keep].unsqueeze(1)
        per_roi = -(label * log_prob.masked_fill(label == 0, 0.)).sum(1)
        if counts is None:
            weight = torch.ones_like(per_roi)
        else:
            weight = 1. / counts.reshape(-1)[keep].to(q.dtype)
        return self.loss_weight * (weight * per_roi).sum() / weight.sum()
