"""Head of ANAUS: per-scale predictors and the two losses.

ANAUS (https://arxiv.org/abs/2605.25402), method.md §2 "Networks", "Loss 1",
"Loss 2". Like mmpretrain's ``LatentPredictHead`` the head owns the predictor
and the loss modules; the algorithm hands it ROI projections.
"""
import torch.nn as nn
from mmengine.model import BaseModule

from mmpretrain.registry import MODELS


@MODELS.register_module()
class ANAUSHead(BaseModule):
    """Per-scale predictor + anatomy alignment loss + core-region loss.

    Args:
        predictor (dict): Config of one scale's predictor (a fresh one is
            built per scale), e.g. ``RoIMLP`` 256 → 4096 → 256.
        num_scales (int): Number of scales (neck levels). Defaults to 4.
        align_loss (dict): ``AnatomyAlignmentLoss`` config.
        core_loss (dict): ``CoreRegionPredictionLoss`` config.
    """

    def __init__(self,
                 predictor=dict(type='RoIMLP', in_channels=256,
                                hid_channels=4096, out_channels=256),
                 num_scales=4,
                 align_loss=dict(type='AnatomyAlignmentLoss',
                                 temperature=0.1),
                 core_loss=dict(type='CoreRegionPredictionLoss',
                                loss_weight=1.0),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.num_scales = num_scales
        self.predictors = nn.ModuleList(
            MODELS.build(predictor) for _ in range(num_scales))
        self.align_loss = MODELS.build(align_loss)
        self.core_loss = MODELS.build(core_loss)

    def loss(self, scale, online, target, ids, counts, core_valid):
        """Losses of one scale.

        Args:
            scale (int): Scale index.
            online (list[tuple[Tensor, Tensor]]): Online ROI projections and
                validity, ``(B, K, D)`` / ``(B, K)``, of view 1, view 2 and
                the corrupted core view.
            target (list[tuple[Tensor, Tensor]]): Target ROI projections and
                validity of view 1, view 2 and the clean core view.
            ids, counts (Tensor): (B, K) sampled ids and their multiplicity.
            core_valid (Tensor): (B,) bool, the two views overlap.

        Returns:
            tuple[Tensor, Tensor]: alignment loss (symmetric mean over the two
            view orders) and core-region loss.
        """
        predictor = self.predictors[scale]
        preds = [predictor(proj, valid) for proj, valid in online]
        (q1, q1_ok), (q2, q2_ok) = (preds[0], online[0][1]), (preds[1],
                                                              online[1][1])
        (z1, z1_ok), (z2, z2_ok) = target[0], target[1]
        loss_align = 0.5 * (
            self.align_loss(q1, z2, ids, q1_ok, z2_ok, counts) +
            self.align_loss(q2, z1, ids, q2_ok, z1_ok, counts))
        core_ok = online[2][1] & target[2][1] & core_valid.view(-1, 1)
        loss_core = self.core_loss(preds[2], target[2][0], core_ok, counts)
        return loss_align, loss_core
