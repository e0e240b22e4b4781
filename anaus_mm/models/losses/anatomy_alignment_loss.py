"""Anatomy-separating alignment loss of ANAUS.

ANAUS (https://arxiv.org/abs/2605.25402), method.md §2 "Loss 1". By default
the conventions are DetCon's multi-ROI contrastive loss (Hénaff et al. 2021,
https://arxiv.org/abs/2103.10957); the project's conventions before 2026-12
are kept as options.
"""
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.dist import all_gather, get_rank, get_world_size
from mmengine.model import BaseModule

from mmpretrain.registry import MODELS

NEGATIVES = ('both', 'cross')
REDUCTIONS = ('mean', 'weight_sum')


def gather_rois(*tensors: torch.Tensor) -> Tuple[List[torch.Tensor], int]:
    """All-gather (B, ...) tensors across ranks (batch sizes may differ).

    Args:
        *tensors (Tensor): Tensors with the same first dimension B (this
            rank's batch size; it may differ between ranks).

    Returns:
        tuple[list[Tensor], int]: The tensors concatenated over ranks in rank
        order, and the global index of this rank's first image. Without a
        process group this is the identity.
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
    r"""InfoNCE with soft same-anatomy positives across views, order a→b.

    ANAUS (https://arxiv.org/abs/2605.25402) aligns anatomy ROIs with the
    multi-ROI contrastive loss of DetCon (Hénaff et al. 2021,
    https://arxiv.org/abs/2103.10957). For the online prediction
    :math:`q_{ik}` (image *i*, ROI *k*, view a) the candidates are, all
    L2-normalised and targets all-gathered across ranks:

    1. view b's target ROIs :math:`z^b_{jl}` of every image *j* of the global
       batch (``target``);
    2. with ``negatives='both'`` (DetCon, default) also view a's target ROIs
       :math:`z^a_{jl}` (``same_target``) except those of the query's own id
       in its own image (their logit is −inf: neither positive nor negative).

    .. math::
        \ell_{ik} = -\sum_{c} p_{ik,c}
            \log \frac{\exp(q_{ik}\cdot z_c/\tau)}
                      {\sum_{c'} \exp(q_{ik}\cdot z_{c'}/\tau)}

    where :math:`p_{ik,c}` is uniform over the positives — the view-b
    targets of image *i* with ``id == id_k`` (same-id duplicates share the
    label mass) — and zero elsewhere. Each ROI is weighted
    :math:`w_{ik} = 1/\text{(times id}_k\text{ was sampled in image } i)`
    (``counts``; 1 when None), and

    * ``reduction='mean'`` (DetCon, default):
      :math:`L = \frac{1}{BK}\sum_{ik} w_{ik}\ell_{ik}` over this rank's
      B·K ROIs (a query without positives or absent counts as 0 but stays
      in the B·K). Each ROI's weight in the gradient is fixed; the loss
      value is (distinct ids per image / K) × the weighted mean of ℓ.
    * ``reduction='weight_sum'`` (the project's before 2026-12):
      :math:`L = \sum w_{ik}\ell_{ik} / \sum w_{ik}` over the kept queries.
      A weighted mean of ℓ, so each ROI's weight changes from batch to batch
      with the number of distinct ids: at K = 16 with 3 ids per image it is
      about 16/3 ≈ 5× the ``'mean'`` weight.

    ``negatives='cross'`` (the project's before 2026-12) keeps block 1 only:
    on identical inputs its loss is lower (an easier task, 11–16 % in the
    measurements of issue 11). The two view orders are combined by
    ``ANAUSHead`` (``symmetrize``).

    Absent ROIs (the id has no cell in that view at that scale) are removed:
    an absent target is neither positive nor negative, an absent query or one
    without any present positive contributes 0. An image with a single id
    (only background) keeps its same-id positives and other images (and,
    with ``'both'``, the same view's ROIs of other images) as negatives; if
    no query is left the loss is 0 (graph kept for DDP).

    Args:
        temperature (float): τ. Defaults to 0.1.
        loss_weight (float): Multiplier. Defaults to 1.0.
        gather (bool): All-gather targets across ranks. Defaults to True.
        negatives (str): ``'both'`` (DetCon: view b's and view a's target
            ROIs) or ``'cross'`` (view b's only). Defaults to ``'both'``.
        reduction (str): ``'mean'`` (DetCon: mean of w·ℓ over the B·K ROIs)
            or ``'weight_sum'`` (Σ w·ℓ / Σ w). Defaults to ``'mean'``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 temperature: float = 0.1,
                 loss_weight: float = 1.0,
                 gather: bool = True,
                 negatives: str = 'both',
                 reduction: str = 'mean',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if negatives not in NEGATIVES:
            raise ValueError(f'negatives must be one of {NEGATIVES}, got '
                             f'{negatives!r}')
        if reduction not in REDUCTIONS:
            raise ValueError(f'reduction must be one of {REDUCTIONS}, got '
                             f'{reduction!r}')
        self.temperature = temperature
        self.loss_weight = loss_weight
        self.gather = gather
        self.negatives = negatives
        self.reduction = reduction

    def forward(self,
                pred: torch.Tensor,
                target: torch.Tensor,
                ids: torch.Tensor,
                pred_valid: torch.Tensor,
                target_valid: torch.Tensor,
                counts: Optional[torch.Tensor] = None,
                same_target: Optional[torch.Tensor] = None,
                same_valid: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Loss of the view order a→b.

        Args:
            pred (Tensor): (B, K, D) online predictions of view a.
            target (Tensor): (B, K, D) target projections of view b.
            ids (Tensor): (B, K) sampled ids, shared by both views.
            pred_valid (Tensor): (B, K) bool, the ROI is present in view a.
            target_valid (Tensor): (B, K) bool, present in view b.
            counts (Tensor, optional): (B, K) times each ROI's id was sampled
                in its image (weights 1/count); None weighs every ROI 1.
            same_target (Tensor, optional): (B, K, D) target projections of
                view a, the same-view negatives; required with
                ``negatives='both'``, ignored with ``'cross'``.
            same_valid (Tensor, optional): (B, K) bool, present in view a's
                targets; None means ``pred_valid``.

        Returns:
            Tensor: Scalar loss.
        """
        b, k, _ = pred.shape
        both = self.negatives == 'both'
        q = F.normalize(pred, dim=-1).reshape(b * k, -1)
        z = F.normalize(target.detach(), dim=-1)
        tensors: List[torch.Tensor] = [z, ids, target_valid]
        if both:
            if same_target is None:
                raise ValueError("negatives='both' needs view a's target ROIs "
                                 '(same_target)')
            if same_valid is None:
                same_valid = pred_valid
            tensors += [F.normalize(same_target.detach(), dim=-1), same_valid]
        if self.gather:
            gathered, offset = gather_rois(*tensors)
        else:
            gathered, offset = list(tensors), 0
        z, t_ids, t_valid = gathered[:3]
        n = z.shape[0]
        t_ids, t_valid = t_ids.reshape(-1), t_valid.reshape(-1)
        t_img = torch.arange(n, device=z.device).repeat_interleave(k)
        q_img = torch.arange(b, device=z.device).repeat_interleave(k) + offset
        # (bk, nk): same image and same id as the query
        same_obj = ((q_img.unsqueeze(1) == t_img.unsqueeze(0))
                    & (ids.reshape(-1, 1) == t_ids.unsqueeze(0)))
        logits = (q @ z.reshape(n * k, -1).t()) / self.temperature
        logits = logits.masked_fill(~t_valid.unsqueeze(0), float('-inf'))
        pos = (same_obj & t_valid.unsqueeze(0)).to(q.dtype)
        if both:
            zs, s_valid = gathered[3], gathered[4].reshape(-1)
            logits_s = (q @ zs.reshape(n * k, -1).t()) / self.temperature
            # the query's own id in its own image: neither positive nor
            # negative; absent ROIs: removed
            logits_s = logits_s.masked_fill(
                same_obj | ~s_valid.unsqueeze(0), float('-inf'))
            logits = torch.cat([logits, logits_s], dim=1)
            pos = torch.cat([pos, torch.zeros_like(pos)], dim=1)
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
        if self.reduction == 'mean':
            return self.loss_weight * (weight * per_roi).sum() / (b * k)
        return self.loss_weight * (weight * per_roi).sum() / weight.sum()
