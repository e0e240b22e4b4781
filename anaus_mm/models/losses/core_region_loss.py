"""Contextual core-region prediction loss of ANAUS.

ANAUS (https://arxiv.org/abs/2605.25402), method.md §2 "Loss 2".
"""
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmpretrain.registry import MODELS


@MODELS.register_module()
class CoreRegionPredictionLoss(BaseModule):
    """Per-ROI regression of the clean core's target from the corrupted core.

    ``normalized`` (default): ``||q/|q| - z/|z|||² = 2 - 2 cos(q, z)`` per
    ROI; ``'mse'``: plain mean squared error per ROI. ROIs are averaged with
    weights 1/(times their id was sampled); ROIs that are absent, and every
    ROI of a sample whose two views do not overlap (``valid`` False), count
    for nothing. No valid ROI at all gives 0 (graph kept for DDP).

    Args:
        loss_weight (float): λ_ctx. Defaults to 1.0.
        mode (str): ``'normalized'`` or ``'mse'``.
    """

    def __init__(self, loss_weight=1.0, mode='normalized', init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if mode not in ('normalized', 'mse'):
            raise ValueError(f"mode must be 'normalized' or 'mse', got "
                             f'{mode!r}')
        self.loss_weight = loss_weight
        self.mode = mode

    def forward(self, pred, target, valid, counts=None):
        """pred/target (B, K, D), valid/counts (B, K) → scalar."""
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
        return self.loss_weight * (weight * err).sum() / weight.sum()
