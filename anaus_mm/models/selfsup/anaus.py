"""ANAUS: anatomy-anchored self-supervised pre-training.

Anatomy-Anchored Self-Supervision: Distilling Vision Foundation Models for
Invariant Ultrasound Representation (https://arxiv.org/abs/2605.25402),
method.md §2. Differences from the public reference code (all deliberate):
one backbone pass per input gives all scales; the EMA target moves once per
iteration; the same sampled ids serve online, target and core views; crop
boxes are true ``(x1, y1, x2, y2)`` boxes with flips; non-overlapping views
mask their core loss out; ROIs of ids absent from a view are masked out.
"""
from typing import Dict, List

import torch
import torch.nn as nn
from mmengine.dist import get_rank
from mmengine.logging import MessageHub

from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.models.utils import CosineEMA
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from ..utils.anatomy_pooling import (majority_vote_downsample, roi_pool,
                                     sample_anatomy_ids)
from ..utils.core_corruption import corrupt_core


@MODELS.register_module()
class ANAUS(BaseSelfSupervisor):
    """Online backbone → pyramid neck → per-scale projector → predictor (in
    the head) against an EMA target (backbone + neck + projectors).

    Inputs (from ``AnatomyPairedViews`` + ``PackInputs``): ``inputs`` is
    ``[view1, view2, clean_core]``; every data sample carries
    ``view_masks`` (3, H, W) and ``core_valid``.

    Args:
        backbone, neck, head (dict): Configs; the neck returns one map per
            scale (``AnatomyFPN`` / ``SimpleFeaturePyramid``).
        projector (dict): Config of one scale's projector (one per scale).
        num_rois (int): K, ids sampled per image. Defaults to 16.
        sample_mode (str): ``'area'`` (paper) or ``'uniform'``.
        base_momentum (float): CosineEMA start weight of the online model
            (0.01 = EMA momentum 0.99); it anneals to ``end_momentum`` (0 =
            momentum 1). Defaults to 0.01 / 0.
        corruption (dict): Keyword arguments of :func:`corrupt_core`.
        concat_views (bool): One backbone pass over the three inputs
            concatenated along the batch (faster; BatchNorm statistics are
            shared by the views as in SimCLR). False: one pass per input.
        iteration_seeded (bool): Draw ids and corruptions from a generator
            seeded by (``torch.initial_seed()``, iteration, rank) inside a
            Runner, which makes resumed runs reproduce exactly.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 projector: dict = dict(type='RoIMLP', in_channels=256,
                                        hid_channels=1024, out_channels=256),
                 num_rois: int = 16,
                 sample_mode: str = 'area',
                 base_momentum: float = 0.01,
                 end_momentum: float = 0.,
                 corruption: dict = dict(),
                 concat_views: bool = True,
                 iteration_seeded: bool = True,
                 pretrained=None,
                 data_preprocessor=None,
                 init_cfg=None) -> None:
        super().__init__(backbone=backbone, neck=neck, head=head,
                         pretrained=pretrained,
                         data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        if sample_mode not in ('area', 'uniform'):
            raise ValueError(f"sample_mode must be 'area' or 'uniform', got "
                             f'{sample_mode!r}')
        self._check_levels()
        self.num_scales = self.head.num_scales
        self.projectors = nn.ModuleList(
            MODELS.build(projector) for _ in range(self.num_scales))
        self.num_rois = num_rois
        self.sample_mode = sample_mode
        self.corruption = dict(corruption)
        self.concat_views = concat_views
        self.iteration_seeded = iteration_seeded
        self.target_net = CosineEMA(
            nn.ModuleDict(dict(backbone=self.backbone, neck=self.neck,
                               projectors=self.projectors)),
            momentum=base_momentum, end_momentum=end_momentum)

    def _check_levels(self):
        """Fail at build time when backbone, neck and head disagree."""
        needed = getattr(self.neck, 'num_inputs', None)
        given = getattr(self.backbone, 'out_indices', None)
        if needed is not None and given is not None and len(given) < needed:
            raise ValueError(
                f'{type(self.neck).__name__} needs {needed} feature levels '
                f'but the backbone {type(self.backbone).__name__} gives '
                f'{len(given)} (out_indices={tuple(given)})')
        levels = getattr(self.neck, 'num_levels', None)
        if levels is not None and levels < self.head.num_scales:
            raise ValueError(f'the neck gives {levels} scales but the head '
                             f'has num_scales={self.head.num_scales}')

    def _generator(self, device):
        """A torch.Generator derived from the framework's seed and the
        iteration, so that a resumed run draws the same ids and corruptions
        as the uninterrupted one (mmengine checkpoints keep no RNG state).
        Outside a Runner (no ``iter`` info) the global torch RNG is used."""
        hub = MessageHub.get_current_instance()
        it = hub.get_info('iter')
        if not self.iteration_seeded or it is None:
            return None
        seed = (torch.initial_seed() * 1000003 + (int(it) + 1) * 7919 +
                get_rank()) % (2**63 - 1)
        return torch.Generator(device=device).manual_seed(seed)

    def _corrupt(self, core: torch.Tensor, generator=None) -> torch.Tensor:
        """Corrupt normalised core views in [0, 1] intensity space."""
        pre = self.data_preprocessor
        if getattr(pre, '_enable_normalize', False):
            raw = (core * pre.std + pre.mean) / 255.
            out = corrupt_core(raw.clamp(0, 1), generator=generator,
                               **self.corruption)
            return (out * 255. - pre.mean) / pre.std
        return corrupt_core(core / 255., generator=generator,
                            **self.corruption) * 255.

    def _rois(self, feats, projectors, masks, ids):
        """Per scale: majority-vote masks, ROI means, projections.

        ``feats``: per-scale maps of the n inputs concatenated (nB, C, h, w);
        ``masks``: (nB, H, W). Returns per scale a list of n
        ``(proj (B, K, D), valid (B, K))`` pairs.
        """
        out = []
        n = masks.shape[0] // ids.shape[0]
        # compact the ids present (label maps may use any of 0..255) so the
        # one-hot of the majority vote has only as many planes as ids
        present, masks = torch.unique(masks, return_inverse=True)
        ids3 = torch.searchsorted(present, ids.repeat(n, 1))
        num_classes = present.numel()
        for feat, proj in zip(feats, projectors):
            small = majority_vote_downsample(masks, feat.shape[-2:],
                                             num_classes)
            pooled, valid = roi_pool(feat, small, ids3)
            z = proj(pooled, valid)
            out.append(list(zip(z.chunk(n), valid.chunk(n))))
        return out

    def _pyramid(self, backbone, neck, inputs):
        """One backbone pass per input (or one over all) → per-scale maps of
        the concatenated inputs; the ``num_scales`` coarsest levels."""
        if self.concat_views:
            levels = neck(backbone(torch.cat(inputs)))
        else:
            per_input = [neck(backbone(x)) for x in inputs]
            levels = [torch.cat(level) for level in zip(*per_input)]
        return list(levels)[-self.num_scales:]

    def loss(self, inputs: List[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """Alignment and core losses per scale (``loss_align_s0`` ...)."""
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 3:
            raise ValueError('ANAUS expects inputs [view1, view2, core] from '
                             'AnatomyPairedViews')
        view1, view2, core = inputs
        masks = torch.stack([ds.view_masks for ds in data_samples])
        masks = masks.to(view1.device).long()  # (B, 3, H, W)
        core_valid = torch.cat(
            [ds.core_valid.reshape(1) for ds in data_samples]).to(
                view1.device).bool()
        gen = self._generator(view1.device)
        ids, counts = sample_anatomy_ids(masks[:, :2], self.num_rois,
                                         self.sample_mode, generator=gen)
        # without a core-region loss (ablation) the core views are skipped
        use_core = self.head.core_loss is not None
        n = 3 if use_core else 2
        masks3 = masks[:, :n].transpose(0, 1).flatten(0, 1)  # (nB, H, W)

        online_in = [view1, view2]
        if use_core:
            online_in.append(self._corrupt(core, gen))
        feats = self._pyramid(self.backbone, self.neck, online_in)
        online = self._rois(feats, self.projectors, masks3, ids)
        with torch.no_grad():
            self.target_net.update_parameters(
                nn.ModuleDict(dict(backbone=self.backbone, neck=self.neck,
                                   projectors=self.projectors)))
            target_model = self.target_net.module
            t_feats = self._pyramid(target_model.backbone, target_model.neck,
                                    [view1, view2, core][:n])
            target = self._rois(t_feats, target_model.projectors, masks3,
                                ids)

        losses = dict()
        for s in range(self.num_scales):
            align, ctx = self.head.loss(s, online[s], target[s], ids, counts,
                                        core_valid)
            if align is not None:
                losses[f'loss_align_s{s}'] = align
            if ctx is not None:
                losses[f'loss_core_s{s}'] = ctx
        return losses
