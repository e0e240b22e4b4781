"""ANAUS: anatomy-anchored self-supervised pre-training.

Anatomy-Anchored Self-Supervision: Distilling Vision Foundation Models for
Invariant Ultrasound Representation (https://arxiv.org/abs/2605.25402),
method.md §2. Differences from the public reference code (all deliberate):
one backbone pass per input gives all scales; the EMA target moves once per
iteration; the same sampled ids serve online, target and core views; crop
boxes are true ``(x1, y1, x2, y2)`` boxes with flips; non-overlapping views
mask their core loss out; ROIs of ids absent from a view are masked out.
"""
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dist import get_rank
from mmengine.logging import MessageHub

from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from ..utils.anatomy_pooling import (compact_ids, majority_vote_pyramid,
                                     roi_pool, sample_anatomy_ids)
from ..utils.core_alignment import align_core_from_views
from ..utils.core_corruption import corrupt_core
from ..utils.ema import FusedCosineEMA
from ..utils.roi_mlp import RoIGroups


@MODELS.register_module()
class ANAUS(BaseSelfSupervisor):
    """Online backbone → pyramid neck → per-scale projector → predictor (in
    the head) against an EMA target (backbone + neck + projectors).

    Inputs (from ``AnatomyPairedViews`` + ``PackInputs``): ``inputs`` is
    ``[view1, view2, clean_core]``; every data sample carries
    ``view_masks`` (3, H, W) and ``core_valid``.

    Only the samples whose two views overlap (``core_valid``) send a core
    view through the networks: the whole-image placeholders of the others
    never enter a forward pass or a BatchNorm statistic.

    Args:
        backbone, neck, head (dict): Configs; the neck returns one map per
            scale (mmseg's ``FPN`` for ResNets, ``SimpleFeaturePyramid``
            for ViTs).
        projector (dict): Config of one scale's projector (one per scale).
        num_rois (int): K, ids sampled per image. Defaults to 16.
        sample_mode (str): ``'area'`` (paper) or ``'uniform'``.
        base_momentum (float): CosineEMA start weight of the online model
            (0.01 = EMA momentum 0.99); it anneals to ``end_momentum`` (0 =
            momentum 1). Defaults to 0.01 / 0.
        corruption (dict): Keyword arguments of :func:`corrupt_core`.
        concat_views (bool): One backbone pass over the inputs of equal size
            concatenated along the batch (BatchNorm statistics shared by the
            views, as in SimCLR). False: one pass per input, as BYOL.
        core_scale (float): Side of the core views relative to the views
            (1.0, paper: the overlap is resized to the view size). 0.5 runs
            the two core passes at a quarter of the pixels.
        core_target (str): Where the core-region loss's target features
            come from. ``'core'`` (paper): the EMA target's pass over the
            clean core view. ``'views'``: the overlap box ROI-aligned on the
            target's maps of the two views and averaged
            (:func:`~anaus_mm.models.utils.core_alignment.align_core_from_views`),
            so the target runs two passes instead of three; the target is
            then photometrically augmented. Defaults to ``'core'``.
        dedupe_rois (bool): Run the projectors and predictors once per
            distinct (image, id) pair with count-weighted BatchNorm
            (:class:`~anaus_mm.models.utils.roi_mlp.RoIGroups`): the same
            outputs, statistics and gradients as one row per sampled ROI, at
            a fraction of the cost. Defaults to True.
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
                 core_scale: float = 1.0,
                 core_target: str = 'core',
                 dedupe_rois: bool = True,
                 iteration_seeded: bool = True,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(backbone=backbone, neck=neck, head=head,
                         pretrained=pretrained,
                         data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        if sample_mode not in ('area', 'uniform'):
            raise ValueError(f"sample_mode must be 'area' or 'uniform', got "
                             f'{sample_mode!r}')
        if not 0 < core_scale <= 1:
            raise ValueError(f'core_scale must be in (0, 1], got '
                             f'{core_scale}')
        if core_target not in ('core', 'views'):
            raise ValueError(f"core_target must be 'core' or 'views', got "
                             f'{core_target!r}')
        self._check_levels()
        self.num_scales = self.head.num_scales
        self.projectors = nn.ModuleList(
            MODELS.build(projector) for _ in range(self.num_scales))
        self.num_rois = num_rois
        self.sample_mode = sample_mode
        self.corruption = dict(corruption)
        self.concat_views = concat_views
        self.core_scale = float(core_scale)
        self.core_target = core_target
        self.dedupe_rois = dedupe_rois
        self.iteration_seeded = iteration_seeded
        self.target_net = FusedCosineEMA(
            nn.ModuleDict(dict(backbone=self.backbone, neck=self.neck,
                               projectors=self.projectors)),
            momentum=base_momentum, end_momentum=end_momentum)

    def _check_levels(self) -> None:
        """Fail at build time when backbone, neck and head disagree."""
        # our SimpleFeaturePyramid: num_inputs / num_levels; mmseg's FPN:
        # num_ins / num_outs
        needed = getattr(self.neck, 'num_inputs',
                         getattr(self.neck, 'num_ins', None))
        given = getattr(self.backbone, 'out_indices', None)
        if needed is not None and given is not None and len(given) < needed:
            raise ValueError(
                f'{type(self.neck).__name__} needs {needed} feature levels '
                f'but the backbone {type(self.backbone).__name__} gives '
                f'{len(given)} (out_indices={tuple(given)})')
        levels = getattr(self.neck, 'num_levels',
                         getattr(self.neck, 'num_outs', None))
        if levels is not None and levels < self.head.num_scales:
            raise ValueError(f'the neck gives {levels} scales but the head '
                             f'has num_scales={self.head.num_scales}')

    def _generator(self, device: torch.device) -> Optional[torch.Generator]:
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

    def _corrupt(self, core: torch.Tensor,
                 generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Corrupt normalised core views in [0, 1] intensity space."""
        pre = self.data_preprocessor
        if getattr(pre, '_enable_normalize', False):
            raw = (core * pre.std + pre.mean) / 255.
            out = corrupt_core(raw.clamp(0, 1), generator=generator,
                               **self.corruption)
            return (out * 255. - pre.mean) / pre.std
        return corrupt_core(core / 255., generator=generator,
                            **self.corruption) * 255.

    def _pyramid(self, backbone: nn.Module, neck: nn.Module,
                 inputs: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        """Per-scale maps of the inputs concatenated along the batch (the
        ``num_scales`` coarsest levels): one backbone pass over all inputs
        with ``concat_views`` (they must share a size), else one each."""
        if self.concat_views or len(inputs) == 1:
            levels = neck(backbone(torch.cat(list(inputs))))
        else:
            per_input = [neck(backbone(x)) for x in inputs]
            levels = [torch.cat(level) for level in zip(*per_input)]
        return list(levels)[-self.num_scales:]

    def _features(self, backbone: nn.Module, neck: nn.Module,
                  views: Sequence[torch.Tensor],
                  core: Optional[torch.Tensor]
                  ) -> List[List[torch.Tensor]]:
        """Per input (the views, then the core if given): the per-scale maps
        of the ``num_scales`` coarsest levels. With ``concat_views`` inputs
        of one size share a backbone pass; else each input has its own."""
        inputs = list(views) + ([core] if core is not None else [])
        if not self.concat_views:
            groups = [[x] for x in inputs]
        elif core is not None and core.shape[-2:] != views[0].shape[-2:]:
            groups = [list(views), [core]]
        else:
            groups = [inputs]
        per_input = []
        for group in groups:
            levels = self._pyramid(backbone, neck, group)
            sizes = [x.shape[0] for x in group]
            per_input += [list(x) for x in zip(*(lv.split(sizes)
                                                for lv in levels))]
        return per_input

    @staticmethod
    def _core_from_views(target_feats: List[List[torch.Tensor]],
                         data_samples: List[DataSample], rows: torch.Tensor,
                         view_size: int, sizes: List[torch.Size]
                         ) -> List[torch.Tensor]:
        """Per scale, the core samples' (``rows``) target maps read from the
        two views' target maps (``core_target='views'``) at the online core
        maps' ``sizes``."""
        pick = rows.tolist()
        boxes = torch.stack([data_samples[i].core_box for i in pick])
        crops = torch.stack([data_samples[i].crop_boxes for i in pick])
        flips = torch.stack([data_samples[i].flips for i in pick])
        return [align_core_from_views(
            [target_feats[0][s].index_select(0, rows),
             target_feats[1][s].index_select(0, rows)], boxes, crops, flips,
            view_size, tuple(size)) for s, size in enumerate(sizes)]

    @staticmethod
    def _project(feats: List[torch.Tensor], grids: List[torch.Tensor],
                 ids: torch.Tensor, projectors: nn.ModuleList,
                 groups: Optional[RoIGroups] = None) -> List[tuple]:
        """Per scale: ROI means of ``ids`` on ``grids``, projected; returns
        ``(projection, valid, groups)`` per scale."""
        out = []
        for feat, grid, proj in zip(feats, grids, projectors):
            pooled, valid = roi_pool(feat, grid, ids)
            out.append((proj(pooled, valid, groups), valid, groups))
        return out

    @staticmethod
    def _scatter(rows: torch.Tensor, values: tuple, batch: int,
                 groups: Optional[RoIGroups]) -> tuple:
        """Put the core ROIs of the samples ``rows`` back into a batch of
        ``batch`` (the others: zeros, invalid)."""
        proj, valid = values[:2]
        full = proj.new_zeros((batch, ) + tuple(proj.shape[1:]))
        full_ok = valid.new_zeros((batch, ) + tuple(valid.shape[1:]))
        return (full.index_copy(0, rows, proj),
                full_ok.index_copy(0, rows, valid), groups)

    def loss(self, inputs: List[torch.Tensor], data_samples: List[DataSample],
             **kwargs: Any) -> Dict[str, torch.Tensor]:
        """Alignment and core losses per scale (``loss_align_s0`` ...)."""
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 3:
            raise ValueError('ANAUS expects inputs [view1, view2, core] from '
                             'AnatomyPairedViews')
        view1, view2, core = inputs
        batch = view1.shape[0]
        masks = torch.stack([ds.view_masks for ds in data_samples])
        masks = masks.to(view1.device).long()  # (B, 3, H, W)
        core_valid = torch.cat(
            [ds.core_valid.reshape(1) for ds in data_samples]).to(
                view1.device).bool()
        gen = self._generator(view1.device)
        ids, counts = sample_anatomy_ids(masks[:, :2], self.num_rois,
                                         self.sample_mode, generator=gen)
        # without a core-region loss (ablation) the core views are skipped;
        # only the samples whose views overlap have a core view
        rows = core_valid.nonzero(as_tuple=True)[0]
        # a core pass of its own (another size, or one pass per input)
        # needs two samples for BatchNorm; with one, this iteration's core
        # term is zero
        alone = self.core_scale < 1 or not self.concat_views
        use_core = self.head.core_loss is not None and \
            rows.numel() > (1 if alone else 0)
        masks, ids, num_ids = compact_ids(masks, ids)
        clean = None
        if use_core:
            clean = core.index_select(0, rows)
            if self.core_scale < 1:
                side = max(1, int(round(clean.shape[-1] * self.core_scale)))
                clean = F.interpolate(clean, size=(side, side),
                                      mode='bilinear', align_corners=False)
        corrupted = self._corrupt(clean, gen) if use_core else None
        online_feats = self._features(self.backbone, self.neck,
                                      [view1, view2], corrupted)
        with torch.no_grad():
            self.target_net.update_parameters(
                nn.ModuleDict(dict(backbone=self.backbone, neck=self.neck,
                                   projectors=self.projectors)))
            target_model = self.target_net.module
            from_views = self.core_target == 'views'
            target_feats = self._features(
                target_model.backbone, target_model.neck, [view1, view2],
                None if from_views else clean)
            if use_core and from_views:
                target_feats.append(self._core_from_views(
                    target_feats, data_samples, rows, view1.shape[-1],
                    [f.shape[-2:] for f in online_feats[2]]))
            # majority-vote label grids of every input at every scale (the
            # same for online and target)
            grids = [majority_vote_pyramid(masks[:, v], [
                f.shape[-2:] for f in online_feats[v]], num_ids)
                for v in range(2)]
            if use_core:
                grids.append(majority_vote_pyramid(
                    masks[rows, 2], [f.shape[-2:] for f in online_feats[2]],
                    num_ids))
        in_ids = [ids, ids] + ([ids[rows]] if use_core else [])
        # duplicates of an (image, id) pair go through the MLPs once
        groups = [RoIGroups.from_ids(i) if self.dedupe_rois else None
                  for i in in_ids]
        full_groups = groups[0]
        online = [self._project(f, g, i, self.projectors, grp)
                  for f, g, i, grp in zip(online_feats, grids, in_ids,
                                          groups)]
        with torch.no_grad():
            target = [self._project(f, g, i, target_model.projectors, grp)
                      for f, g, i, grp in zip(target_feats, grids, in_ids,
                                              groups)]
        losses = dict()
        for s in range(self.num_scales):
            on = [online[0][s], online[1][s]]
            tg = [target[0][s], target[1][s]]
            if use_core:
                on.append(self._scatter(rows, online[2][s], batch,
                                        full_groups))
                tg.append(self._scatter(rows, target[2][s], batch,
                                        full_groups))
            elif self.head.core_loss is not None:
                # no sample has a core: every core ROI is invalid and the
                # core term is an exact zero (predictor kept in the graph)
                empty = (torch.zeros_like(on[0][0]),
                         torch.zeros_like(on[0][1]), full_groups)
                on.append(empty)
                tg.append(empty)
            align, ctx = self.head.loss(s, on, tg, ids, counts, core_valid)
            if align is not None:
                losses[f'loss_align_s{s}'] = align
            if ctx is not None:
                losses[f'loss_core_s{s}'] = ctx
        return losses
