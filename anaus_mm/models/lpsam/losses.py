"""LP-SAM's segmentation loss: ``(1 − α)·BCE + α·Dice`` on low-res logits.

The reference code uses α = 0.8 and a BCE ``pos_weight`` of 2 (method.md §1;
the paper's "Prob. α = 0.15" is another quantity).
"""
from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS

__all__ = ['BCEDiceLoss']


@MODELS.register_module()
class BCEDiceLoss(nn.Module):
    """Weighted sum of binary cross-entropy and soft Dice, per mask.

    Args:
        alpha (float): Dice weight; BCE gets ``1 − alpha``. Default 0.8.
        pos_weight (float): BCE weight of positive pixels. Default 2.0.
        smooth (float): Dice smoothing (empty target + empty prediction → 0).
    """

    def __init__(self,
                 alpha: float = 0.8,
                 pos_weight: float = 2.0,
                 smooth: float = 1.0) -> None:
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f'alpha must be in [0, 1], got {alpha}')
        self.alpha = alpha
        self.pos_weight = pos_weight
        self.smooth = smooth

    def forward(
            self,
            logits: torch.Tensor,
            target: torch.Tensor,
            valid: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """BCE over the valid pixels of all masks, Dice per mask (mean).

        Args:
            logits (Tensor): (N, 1, h, w) mask logits.
            target (Tensor): (N, 1, h, w) binary targets (float).
            valid (Tensor, optional): (N, 1, h, w) 1 where the pixel counts
                (0 at ignore pixels).

        Returns:
            dict[str, Tensor]: ``loss_bce`` = (1−α)·BCE and ``loss_dice`` =
            α·Dice.
        """
        if valid is None:
            valid = torch.ones_like(target)
        pw = logits.new_tensor(self.pos_weight)
        bce = F.binary_cross_entropy_with_logits(
            logits, target, pos_weight=pw, reduction='none')
        bce = (bce * valid).sum() / valid.sum().clamp(min=1.0)
        prob = logits.sigmoid() * valid
        t = target * valid
        inter = (prob * t).flatten(1).sum(1)
        denom = prob.flatten(1).sum(1) + t.flatten(1).sum(1)
        dice = 1 - (2 * inter + self.smooth) / (denom + self.smooth)
        return dict(loss_bce=(1 - self.alpha) * bce,
                    loss_dice=self.alpha * dice.mean())
