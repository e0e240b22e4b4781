"""Head of ANAUS: per-scale predictors and the two losses.

ANAUS (https://arxiv.org/abs/2605.25402), method.md §2 "Networks", "Loss 1",
"Loss 2". Like mmpretrain's ``LatentPredictHead`` the head owns the predictor
and the loss modules; the algorithm hands it ROI projections. The alignment
loss follows DetCon's conventions by default (Hénaff et al. 2021,
https://arxiv.org/abs/2103.10957).
"""
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from mmpretrain.registry import MODELS

SYMMETRIZE = ('sum', 'mean')


@MODELS.register_module()
class ANAUSHead(BaseModule):
    """Per-scale predictor + anatomy alignment loss + core-region loss.

    ANAUS (https://arxiv.org/abs/2605.25402). The alignment loss is computed
    for both view orders, 1→2 (view 1's predictions against view 2's targets,
    view 1's targets as same-view negatives) and 2→1, and combined by
    ``symmetrize``:

    * ``'sum'`` (DetCon, https://arxiv.org/abs/2103.10957, default):
      ``L_12 + L_21``;
    * ``'mean'`` (the project's before 2026-12): ``0.5 · (L_12 + L_21)``.
      Relative to the core-region loss, λctx = 1 then weighs like λctx = 2
      with ``'sum'``.

    The pre-2026-12 behaviour as a whole is ``symmetrize='mean'`` with
    ``AnatomyAlignmentLoss(negatives='cross', reduction='weight_sum')`` and
    ``CoreRegionPredictionLoss(reduction='weight_sum')``.

    Args:
        predictor (dict): Config of one scale's predictor (a fresh one is
            built per scale), e.g. ``RoIMLP`` 256 → 4096 → 256.
        num_scales (int): Number of scales; ANAUS uses the ``num_scales``
            coarsest neck levels (ablation S = 1..4). Defaults to 4.
        align_loss (dict | None): ``AnatomyAlignmentLoss`` config; None
            disables the term (ablation).
        core_loss (dict | None): ``CoreRegionPredictionLoss`` config; None
            disables the term and the core views (ablation).
        symmetrize (str): ``'sum'`` or ``'mean'`` of the two view orders of
            the alignment loss. Defaults to ``'sum'``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 predictor: dict = dict(type='RoIMLP', in_channels=256,
                                        hid_channels=4096, out_channels=256),
                 num_scales: int = 4,
                 align_loss: Optional[dict] = dict(
                     type='AnatomyAlignmentLoss', temperature=0.1),
                 core_loss: Optional[dict] = dict(
                     type='CoreRegionPredictionLoss', loss_weight=1.0),
                 symmetrize: str = 'sum',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if symmetrize not in SYMMETRIZE:
            raise ValueError(f'symmetrize must be one of {SYMMETRIZE}, got '
                             f'{symmetrize!r}')
        self.num_scales = num_scales
        self.symmetrize = symmetrize
        self.predictors = nn.ModuleList(
            MODELS.build(predictor) for _ in range(num_scales))
        if align_loss is None and core_loss is None:
            raise ValueError('ANAUSHead needs at least one of align_loss and '
                             'core_loss')
        # None disables a term (ablations); the model then also skips the
        # core views when there is no core loss
        self.align_loss = MODELS.build(align_loss) if align_loss else None
        self.core_loss = MODELS.build(core_loss) if core_loss else None

    def loss(
        self, scale: int, online: List[tuple], target: List[tuple],
        ids: torch.Tensor,
        counts: torch.Tensor, core_valid: torch.Tensor
    ) -> Tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
        """Losses of one scale.

        Args:
            scale (int): Scale index.
            online (list[tuple]): Online ROI projections and validity,
                ``(B, K, D)`` / ``(B, K)``, of view 1, view 2 and the
                corrupted core view, optionally followed by their
                ``RoIGroups`` (duplicate ROIs then go through the predictor
                once).
            target (list[tuple[Tensor, Tensor]]): Target ROI projections and
                validity of view 1, view 2 and the clean core view.
            ids (Tensor): (B, K) sampled ids, shared by all views.
            counts (Tensor): (B, K) times each ROI's id was sampled.
            core_valid (Tensor): (B,) bool, the two views overlap.

        Returns:
            tuple[Tensor | None, Tensor | None]: alignment loss (both view
            orders, combined by ``symmetrize``) and core-region loss; None
            for a disabled term.
        """
        predictor = self.predictors[scale]
        loss_align = loss_core = None
        if self.align_loss is not None:
            (z1, z1_ok), (z2, z2_ok) = target[0][:2], target[1][:2]
            q1 = predictor(*online[0])
            q2 = predictor(*online[1])
            # view a's own targets are DetCon's same-view negatives (the
            # loss ignores them with negatives='cross')
            loss_12 = self.align_loss(q1, z2, ids, online[0][1], z2_ok, counts,
                                      same_target=z1, same_valid=z1_ok)
            loss_21 = self.align_loss(q2, z1, ids, online[1][1], z1_ok, counts,
                                      same_target=z2, same_valid=z2_ok)
            loss_align = loss_12 + loss_21
            if self.symmetrize == 'mean':
                loss_align = 0.5 * loss_align
        if self.core_loss is not None:
            core_ok = online[2][1] & target[2][1] & core_valid.view(-1, 1)
            loss_core = self.core_loss(predictor(*online[2]), target[2][0],
                                       core_ok, counts)
        return loss_align, loss_core
