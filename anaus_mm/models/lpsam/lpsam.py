"""LP-SAM: Segment Anything with ultrasound adapters and a latent prompt
engine (method.md §1; ANAUS, arXiv 2605.25402).

The segmentor wraps SAM's unmodified modules (``image_encoder``,
``prompt_encoder``, ``mask_decoder`` of the ``segment-anything`` package)
and the trainable LP-SAM parts; a decode head (mmseg style, see
:mod:`.decode_heads`) prompts SAM's mask decoder and owns the loss. The
training stages differ in the head and in what trains:

* ``stage=0`` (SAM pre-training, what SA-1B training is for Meta's
  checkpoints; used here to make a promptable *stand-in* on simulated data,
  see ``configs/lpsam/README.md``): every SAM module trains, class-agnostic,
  with :class:`SampledPromptHead` (jittered boxes and single points drawn
  from the ground-truth regions). No adapters; the checkpoint holds only the
  official SAM keys and loads as ``sam_checkpoint``.

* ``stage=1``: SAM (frozen) + :class:`SAMAdapters` (trainable), with
  :class:`BoxPromptHead` (box prompts derived from the ground-truth masks,
  one box per class present, SAM's frozen prompt encoder + mask decoder).
* ``stage=2``: the stage-1 encoder (SAM + adapters, frozen) +
  :class:`LatentPromptEngine` and SAM's mask decoder (trainable), with
  :class:`LatentPromptHead`: no manual prompts, every class decoded in one
  batched decoder call (``B·C`` masks), the maps merged into a label map
  (argmax over classes; background where every probability <
  ``score_thr``).

Stage 2 starts from stage 1 by ``stage1_checkpoint`` (a stage-1 ``.pth`` or
a stage-1 work dir: its best ``best_mDice_*.pth``, else its last checkpoint),
or by the Runner's ``load_from`` (non-strict; the LPE keys are then reported
missing, which is expected).

State-dict keys: ``image_encoder.*``, ``prompt_encoder.*``, ``mask_decoder.*``
(the official SAM layout), ``adapters.*`` and ``prompt_engine.*``; the heads
hold no weights.
"""
import warnings
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.logging import MMLogger
from mmseg.models.segmentors.base import BaseSegmentor
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from torch import nn

from .adapters import SAMAdapters
from .checkpoint import (load_sam_checkpoint, load_stage1_checkpoint,
                         register_resize_hook)
from .decode_heads import DecoderModules, SAMMaskHead
from .prompt_engine import LatentPromptEngine
from .sam_builder import PATCH_SIZE, build_sam_parts
from .sam_utils import boxes_from_masks, decode_masks, merge_label_map

# ``decode_masks`` and ``boxes_from_masks`` live in :mod:`.sam_utils`; they
# stay importable from here.
__all__ = ['LPSAM', 'decode_masks', 'boxes_from_masks']

#: the decode head of each stage (``decode_head.type`` defaults to it)
DEFAULT_HEADS = {
    0: 'SampledPromptHead',
    1: 'BoxPromptHead',
    2: 'LatentPromptHead'
}
#: the modules that train in each stage; everything else is frozen
TRAINABLE = {
    0: ('image_encoder', 'prompt_encoder', 'mask_decoder'),
    1: ('adapters', ),
    2: ('prompt_engine', 'mask_decoder')
}


def build_prompt_engine(num_classes: int, embed_dim: int,
                        cfg: Optional[dict] = None) -> LatentPromptEngine:
    """The latent prompt engine for a SAM prompt width ``embed_dim``.

    Args:
        num_classes (int): anatomy classes ``C``.
        embed_dim (int): SAM's prompt embedding width (256; 32 for the tiny
            test architecture).
        cfg (dict, optional): kwargs of :class:`LatentPromptEngine`. Narrow
            architectures (``embed_dim < 256``) get narrow defaults.

    Returns:
        LatentPromptEngine: the engine.
    """
    cfg = dict(cfg or {})
    cfg.setdefault('embed_dim', embed_dim)
    if cfg['embed_dim'] < 256:  # narrow test architectures
        cfg.setdefault('num_heads', 2)
        cfg.setdefault('prompt_mlp_dim', 2 * cfg['embed_dim'])
        cfg.setdefault('image_mlp_dim', 2 * cfg['embed_dim'])
        cfg.setdefault('cnn_channels', (8, 16, 16, 32))
    return LatentPromptEngine(num_classes, **cfg)


@MODELS.register_module()
class LPSAM(BaseSegmentor):
    """LP-SAM segmentor (mmseg-style; see the module docstring).

    Args:
        stage (int): 0 (SAM pre-training, the stand-in), 1 (adapters) or 2
            (latent prompt engine).
        num_classes (int): anatomy classes ``C`` (label ids 1..C, 0 is
            background, 255 ignored). Binary datasets: 1.
        arch (str | dict): ``'vit_b'`` (default), ``'vit_l'``, ``'vit_h'``,
            ``'tiny'`` or a dict (see :data:`SAM_ARCHS`).
        img_size (int): square input size (256).
        sam_checkpoint (str, optional): official SAM weights, e.g.
            ``sam_vit_b_01ec64.pth`` (position tables resized on load).
        stage1_checkpoint (str, optional): stage-2 only; stage-1 weights
            (file or work dir).
        adapter_cfg (dict): kwargs of :class:`SAMAdapters`.
        prompt_engine_cfg (dict): stage 2: kwargs of
            :class:`LatentPromptEngine`.
        decode_head (dict, optional): the head config; ``type`` defaults to
            the stage's head (:data:`DEFAULT_HEADS`), ``num_classes`` to
            ours. Its ``loss_decode`` is the mask loss (default
            ``BCEDiceLoss``, α 0.8, pos_weight 2), its ``iou_loss_weight``
            the weight of the IoU-head loss (stage 2: 1.0).
        score_thr (float): background where every class probability is
            below it.
        data_preprocessor (dict): ``SegDataPreProcessor`` settings.
        init_cfg (dict, optional): mmengine initialisation config.
        loss_cfg (dict, optional): deprecated, use
            ``decode_head.loss_decode``.
        iou_loss_weight (float, optional): deprecated, use
            ``decode_head.iou_loss_weight``.
    """

    def __init__(self,
                 stage: int = 1,
                 num_classes: int = 1,
                 arch: Union[str, dict] = 'vit_b',
                 img_size: int = 256,
                 sam_checkpoint: Optional[str] = None,
                 stage1_checkpoint: Optional[str] = None,
                 adapter_cfg: dict = dict(adapter_ratio=0.25,
                                          mlp_adapter_scale=0.5),
                 prompt_engine_cfg: dict = dict(num_tokens=2, depth=4,
                                                num_heads=8),
                 decode_head: Optional[dict] = None,
                 score_thr: float = 0.5,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[dict] = None,
                 loss_cfg: Optional[dict] = None,
                 iou_loss_weight: Optional[float] = None) -> None:
        if isinstance(data_preprocessor, dict):  # mmseg scope, any caller
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        if stage not in TRAINABLE:
            raise ValueError(f'stage must be 0, 1 or 2, got {stage}')
        if num_classes < 1:
            raise ValueError(f'num_classes must be >= 1, got {num_classes}')
        if stage1_checkpoint and stage != 2:
            raise ValueError('stage1_checkpoint is a stage-2 argument')
        self.stage = stage
        self.num_classes = num_classes
        self.img_size = img_size
        self.score_thr = score_thr
        self.align_corners = False
        (self.image_encoder, self.prompt_encoder, self.mask_decoder,
         self.arch) = build_sam_parts(arch, img_size)
        self.grid = img_size // PATCH_SIZE
        register_resize_hook(self.image_encoder,
                             self.arch['global_attn_indexes'])
        if stage > 0:  # stage 0 trains SAM itself: no adapters
            self.adapters = SAMAdapters(
                self.arch['embed_dim'], self.arch['depth'],
                self.arch['num_heads'], self.arch['global_attn_indexes'],
                **(adapter_cfg or {}))
        if stage == 2:
            self.prompt_engine = build_prompt_engine(
                num_classes, self.arch['prompt_embed_dim'], prompt_engine_cfg)
        self.decode_head = self._build_head(decode_head, loss_cfg,
                                            iou_loss_weight)

        #: (missing, unexpected) keys of the SAM checkpoint load
        self.sam_load_report = None
        if sam_checkpoint:
            self.sam_load_report = load_sam_checkpoint(
                self, sam_checkpoint, self.grid,
                self.arch['global_attn_indexes'])
        if stage1_checkpoint:
            self.load_stage1(stage1_checkpoint)
        self._freeze()
        n = self.num_trainable_parameters()
        name = arch if isinstance(arch, str) else 'custom arch'
        MMLogger.get_current_instance().info(
            f'LP-SAM stage {stage} ({name}, {img_size}px): {n:,} trainable '
            f'parameters ({n / 1e6:.2f} M)')

    def _build_head(self, cfg: Optional[dict], loss_cfg: Optional[dict],
                    iou_loss_weight: Optional[float]) -> SAMMaskHead:
        """Build the decode head of ``self.stage`` from ``cfg``.

        ``loss_cfg`` and ``iou_loss_weight`` are the deprecated segmentor
        arguments of earlier configs; they fill the head's ``loss_decode``
        and (stage 2, where they applied) ``iou_loss_weight``.
        """
        cfg = dict(cfg or {})
        cfg.setdefault('type', DEFAULT_HEADS[self.stage])
        cfg.setdefault('num_classes', self.num_classes)
        if loss_cfg is not None or iou_loss_weight is not None:
            warnings.warn(
                'LPSAM(loss_cfg=..., iou_loss_weight=...) is deprecated: set '
                'decode_head=dict(loss_decode=..., iou_loss_weight=...)',
                DeprecationWarning)
            if loss_cfg is not None:
                cfg.setdefault('loss_decode', loss_cfg)
            if iou_loss_weight is not None and self.stage == 2:
                cfg.setdefault('iou_loss_weight', iou_loss_weight)
        head = MODELS.build(cfg)
        if head.num_classes != self.num_classes:
            raise ValueError(f'decode_head.num_classes={head.num_classes} '
                             f'but the model has {self.num_classes} classes')
        if head.prompts_from_gt != (self.stage < 2):
            raise ValueError(
                f'LP-SAM stage {self.stage} needs {DEFAULT_HEADS[self.stage]}'
                f' (stages 0 and 1 train with prompts from the ground truth, '
                f'stage 2 with latent prompts), got {type(head).__name__}')
        return head

    # ------------------------------------------------------------------
    def _trainable_modules(self) -> List[nn.Module]:
        """The modules that train in this stage (:data:`TRAINABLE`)."""
        return [getattr(self, name) for name in TRAINABLE[self.stage]]

    def _freeze(self) -> None:
        for p in self.parameters():
            p.requires_grad_(False)
        for m in self._trainable_modules():
            for p in m.parameters():
                p.requires_grad_(True)

    def num_trainable_parameters(self) -> int:
        """Number of parameters that require grad."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def load_stage1(self, path: str) -> None:
        """Load the encoder, adapters, prompt encoder and decoder of a
        stage-1 checkpoint (:func:`load_stage1_checkpoint`).

        Args:
            path (str): a stage-1 ``.pth`` or a stage-1 work dir (its best
                checkpoint, else its last).

        Raises:
            FileNotFoundError: no checkpoint there.
            ValueError: the file is unreadable, is no stage-1 checkpoint or
                does not fit the architecture (the key and both shapes are
                named).
        """
        load_stage1_checkpoint(self, path)

    def train(self, mode: bool = True) -> 'LPSAM':
        """Set the mode; frozen parts stay in eval mode (no dropout or BN in
        SAM, but be safe)."""
        super().train(mode)
        trainable = self._trainable_modules()
        for name, m in self.named_children():
            if m not in trainable and name not in ('data_preprocessor',
                                                   'decode_head'):
                m.eval()
        return self

    # ------------------------------------------------------------------
    @property
    def decoder_modules(self) -> DecoderModules:
        """SAM's prompt encoder, mask decoder (and the prompt engine), as
        the decode head takes them."""
        return DecoderModules(self.prompt_encoder, self.mask_decoder,
                              getattr(self, 'prompt_engine', None))

    def extract_feat(self, inputs: torch.Tensor) -> torch.Tensor:
        """SAM + adapters image embeddings (B, D, S/16, S/16); without
        autograd when the encoder is frozen (stage 2); SAM's own encoder in
        stage 0."""
        if self.stage == 0:
            return self.image_encoder(inputs)
        if 'adapters' not in TRAINABLE[self.stage]:
            with torch.no_grad():
                return self.adapters(self.image_encoder, inputs)
        return self.adapters(self.image_encoder, inputs)

    def loss(self, inputs: torch.Tensor,
             data_samples: Sequence[SegDataSample]) -> Dict[str,
                                                             torch.Tensor]:
        """Losses of a training batch (the decode head's ``loss``).

        Args:
            inputs (Tensor): ``(B, 3, S, S)`` normalised images.
            data_samples (Sequence[SegDataSample]): with ``gt_sem_seg``.

        Returns:
            dict[str, Tensor]: ``loss_bce``, ``loss_dice`` (stage 2 also
            ``loss_iou``).
        """
        emb = self.extract_feat(inputs)
        return self.decode_head.loss(self.decoder_modules, emb, inputs,
                                     data_samples)

    def predict_probs(
        self,
        inputs: torch.Tensor,
        data_samples: Optional[Sequence[SegDataSample]] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Class probabilities at input size and predicted IoUs.

        Args:
            inputs (Tensor): ``(B, 3, S, S)`` normalised images.
            data_samples (Sequence[SegDataSample], optional): stage 1 needs
                their ``gt_sem_seg`` (box prompts).

        Returns:
            tuple[Tensor, Tensor]: (B, C, S, S) probabilities and (B, C)
            predicted IoU (stage 1: of the box prompts; 0 where a class is
            absent from the ground truth).

        Raises:
            ValueError: stage 1 without ground truth.
        """
        emb = self.extract_feat(inputs)
        return self.decode_head.predict(self.decoder_modules, emb, inputs,
                                        data_samples)

    def merge_label_map(self, probs: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) probabilities → (B, H, W) label map (0..C); 0 where
        every probability is below ``score_thr``."""
        return merge_label_map(probs, self.score_thr)

    def predict(
        self,
        inputs: torch.Tensor,
        data_samples: Optional[Sequence[SegDataSample]] = None
    ) -> List[SegDataSample]:
        """mmseg results: ``pred_sem_seg``, ``seg_logits`` (channel 0 the
        background score) and ``pred_iou`` (C,) per image.

        Args:
            inputs (Tensor): ``(B, 3, S, S)`` normalised images.
            data_samples (Sequence[SegDataSample], optional): their meta
                (``img_shape``, ``ori_shape``) resize the results back.

        Returns:
            list[SegDataSample]: one per image.
        """
        probs, iou = self.predict_probs(inputs, data_samples)
        # channel 0 = background score (the threshold): argmax in
        # postprocess_result then gives 0 where every probability < thr.
        bg = probs.new_full((probs.shape[0], 1, *probs.shape[-2:]),
                            self.score_thr - 1e-6)
        seg = torch.cat([bg, probs], dim=1)
        if data_samples is None:
            data_samples = [SegDataSample() for _ in range(len(seg))]
            for ds in data_samples:
                ds.set_metainfo(dict(ori_shape=tuple(seg.shape[-2:]),
                                     img_shape=tuple(seg.shape[-2:])))
        results = self.postprocess_result(seg, data_samples)
        for r, s in zip(results, iou):
            r.set_field(s, 'pred_iou')
        return results

    def _forward(
            self,
            inputs: torch.Tensor,
            data_samples: Optional[Sequence[SegDataSample]] = None
    ) -> torch.Tensor:
        """``mode='tensor'``: the (B, C, S/4, S/4) mask logits of a head
        with latent prompts; the image embeddings when the prompts come
        from the ground truth (stage 1)."""
        emb = self.extract_feat(inputs)
        if self.decode_head.prompts_from_gt:
            return emb
        logits = self.decode_head(self.decoder_modules, emb, inputs).logits
        return logits.reshape(len(inputs), self.num_classes,
                              *logits.shape[-2:])

    def encode_decode(
            self, inputs: torch.Tensor,
            batch_data_samples: Optional[Sequence[SegDataSample]]
    ) -> torch.Tensor:
        """(B, C, S, S) class probabilities (mmseg's abstract method)."""
        return self.predict_probs(inputs, batch_data_samples)[0]
