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
        num_scales (int): Number of scales; ANAUS uses the ``num_scales``
            coarsest neck levels (ablation S = 1..4). Defaults to 4.
        align_loss (dict | None): ``AnatomyAlignmentLoss`` config; None
            disables the term (ablation).
        core_loss (dict | None): ``CoreRegionPredictionLoss`` config; None
            disables the term and the core views (ablation).
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
        if align_loss is None and core_loss is None:
            raise ValueError('ANAUSHead needs at least one of align_loss and '
                             'core_loss')
        # None disables a term (ablations); the model then also skips the
        # core views when there is no core loss
        self.align_loss = MODELS.build(align_loss) if align_loss else None
        self.core_loss = MODELS.build(core_loss) if core_loss else None

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
            tuple[Tensor | None, Tensor | None]: alignment loss (symmetric
            mean over the two view orders) and core-region loss; None for a
            disabled term.
        """
        predictor = self.predictors[scale]
        loss_align = loss_core = None
        if self.align_loss is not None:
            (z1, z1_ok), (z2, z2_ok) = target[0], target[1]
            q1 = predictor(*online[0])
            q2 = predictor(*online[1])
            loss_align = 0.5 * (
                self.align_loss(q1, z2, ids, online[0][1], z2_ok, counts) +
                self.align_loss(q2, z1, ids, online[1][1], z1_ok, counts))
        if self.core_loss is not None:
            core_ok = online[2][1] & target[2][1] & core_valid.view(-1, 1)
            loss_core = self.core_loss(predictor(*online[2]), target[2][0],
                                       core_ok, counts)
        return loss_align, loss_core
