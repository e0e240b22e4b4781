"""Contextual core-region prediction loss of ANAUS.

ANAUS (https://arxiv.org/abs/2605.25402), method.md §2 "Loss 2". The ROI
reduction defaults to the one of DetCon's loss (Hénaff et al. 2021,
https://arxiv.org/abs/2103.10957), like the alignment loss's.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmpretrain.registry import MODELS

REDUCTIONS = ('mean', 'weight_sum')


@MODELS.register_module()
class CoreRegionPredictionLoss(BaseModule):
    """Per-ROI regression of the clean core's target from the corrupted core.

    ANAUS (https://arxiv.org/abs/2605.25402). ``mode='normalized'``
    (default): ``||q/|q| - z/|z|||² = 2 - 2 cos(q, z)`` per ROI; ``'mse'``:
    plain mean squared error per ROI. Each ROI is weighted
    w = 1/(times its id was sampled); ROIs that are absent, and every ROI of
    a sample whose two views do not overlap (``valid`` False), count as 0.

    * ``reduction='mean'`` (default, DetCon's reduction as in
      ``AnatomyAlignmentLoss``, https://arxiv.org/abs/2103.10957): the mean
      of w·err over the B·K ROIs, invalid ROIs 0 but counted.
    * ``reduction='weight_sum'`` (the project's before 2026-12):
      Σ w·err / Σ w over the valid ROIs, a weighted mean whose per-ROI
      weight changes with the number of distinct ids and of overlapping
      samples in the batch.

    With both losses on the same reduction, their ratio (λctx) keeps its
    meaning; note that ``ANAUSHead(symmetrize='mean')`` (the old alignment
    convention) weighs λctx = 1 like λctx = 2 with the default ``'sum'``.
    No valid ROI at all gives 0 (graph kept for DDP).

    Args:
        loss_weight (float): λctx. Defaults to 1.0.
        mode (str): ``'normalized'`` or ``'mse'``.
        reduction (str): ``'mean'`` or ``'weight_sum'``. Defaults to
            ``'mean'``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 mode: str = 'normalized',
                 reduction: str = 'mean',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if mode not in ('normalized', 'mse'):
            raise ValueError(f"mode must be 'normalized' or 'mse', got "
                             f'{mode!r}')
        if reduction not in REDUCTIONS:
            raise ValueError(f'reduction must be one of {REDUCTIONS}, got '
                             f'{reduction!r}')
        self.loss_weight = loss_weight
        self.mode = mode
        self.reduction = reduction

    def forward(self,
                pred: torch.Tensor,
                target: torch.Tensor,
                valid: torch.Tensor,
                counts: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Core-region loss.

        Args:
            pred (Tensor): (B, K, D) online predictions on the corrupted core.
            target (Tensor): (B, K, D) target projections of the clean core.
            valid (Tensor): (B, K) bool, the ROI counts (present in both core
                views and the sample's views overlap).
            counts (Tensor, optional): (B, K) times each ROI's id was sampled
                in its image (weights 1/count); None weighs every ROI 1.

        Returns:
            Tensor: Scalar loss.
        """
        target = target.detach()
        if self.mode == 'normalized':
            err = (F.normalize(pred, dim=-1) -
                   F.normalize(target, dim=-1)).pow(2).sum(-1)
        else:
            err = (pred - target).pow(2).mean(-1)
        if not bool(valid.any()):
            return pred.sum() * 0.
        weight = valid.to(err.dtype)
        if counts is not None:
            weight = weight / counts.to(err.dtype)
        # where() keeps a non-finite error of an invalid ROI out of the sum
        total = torch.where(valid, weight * err, err.new_zeros(())).sum()
        if self.reduction == 'mean':
            return self.loss_weight * total / valid.numel()
        return self.loss_weight * total / weight.sum()
