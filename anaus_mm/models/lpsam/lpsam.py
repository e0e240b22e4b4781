"""LP-SAM: Segment Anything with ultrasound adapters and a latent prompt
engine (method.md §1; ANAUS, arXiv 2605.25402).

One model class covers both training stages:

* ``stage=1``: SAM (frozen) + :class:`SAMAdapters` (trainable). Trained and
  validated with box prompts derived from the ground-truth masks (one box
  per class present), decoded by SAM's frozen prompt encoder + mask decoder.
* ``stage=2``: the stage-1 encoder (SAM + adapters, frozen) +
  :class:`LatentPromptEngine` and SAM's mask decoder (trainable). No manual
  prompts: every class is decoded in one batched decoder call
  (``B·C`` masks) and the maps are merged into a label map (argmax over
  classes; background where every probability < ``score_thr``).

Stage 2 starts from stage 1 by ``stage1_checkpoint`` (a stage-1 ``.pth`` or
a stage-1 work dir: its best ``best_mDice_*.pth``, else its last checkpoint),
or by the Runner's ``load_from`` (non-strict; the LPE keys are then reported
missing, which is expected).

State-dict keys: ``image_encoder.*``, ``prompt_encoder.*``, ``mask_decoder.*``
(the official SAM layout), ``adapters.*`` and ``prompt_engine.*``.
"""
import glob
import os.path as osp

import torch
import torch.nn.functional as F
from mmengine.logging import MMLogger
from mmseg.models.segmentors.base import BaseSegmentor
from mmseg.registry import MODELS

from ...utils.checkpoint import check_shapes, missing_keys, read_checkpoint
from .adapters import SAMAdapters
from .checkpoint import load_sam_checkpoint, register_resize_hook
from .prompt_engine import LatentPromptEngine
from .sam_builder import PATCH_SIZE, build_sam_parts

__all__ = ['LPSAM', 'decode_masks', 'boxes_from_masks']


def decode_masks(mask_decoder, image_embeddings, image_pe, sparse, dense):
    """SAM's ``MaskDecoder.predict_masks`` for a batch of (image, prompt).

    ``MaskDecoder.forward`` repeats one image embedding per prompt; here row
    ``n`` of ``image_embeddings`` already belongs to prompt ``n``, so a whole
    batch of images × prompts runs in one call. Only the decoder's own
    modules are used; returns the single-mask output
    (``multimask_output=False``).

    Returns:
        tuple[Tensor, Tensor]: logits (N, 1, 4h, 4w) and IoU predictions
        (N, 1).
    """
    dec = mask_decoder
    n = sparse.shape[0]
    out_tokens = torch.cat([dec.iou_token.weight, dec.mask_tokens.weight], 0)
    tokens = torch.cat([out_tokens.unsqueeze(0).expand(n, -1, -1), sparse],
                       dim=1)
    src = image_embeddings + dense
    pos = image_pe.expand(n, -1, -1, -1)
    b, c, h, w = src.shape
    hs, src = dec.transformer(src, pos, tokens)
    iou_out = hs[:, 0, :]
    mask_out = hs[:, 1:1 + dec.num_mask_tokens, :]
    up = dec.output_upscaling(src.transpose(1, 2).reshape(b, c, h, w))
    hyper = torch.stack([
        mlp(mask_out[:, i, :])
        for i, mlp in enumerate(dec.output_hypernetworks_mlps)
    ], dim=1)
    bu, cu, hu, wu = up.shape
    masks = (hyper @ up.reshape(bu, cu, hu * wu)).reshape(bu, -1, hu, wu)
    iou = dec.iou_prediction_head(iou_out)
    return masks[:, :1], iou[:, :1]


def boxes_from_masks(gt, num_classes):
    """One XYXY box per (image, class present) of label maps ``gt``.

    Args:
        gt (Tensor): (B, H, W) label ids (0 background, 255 ignore).
        num_classes (int): foreground classes 1..C.

    Returns:
        tuple[Tensor, Tensor, Tensor]: image index (K,), class id (K,) and
        boxes (K, 4) in pixel coordinates.
    """
    idx, cls, boxes = [], [], []
    for b in range(gt.shape[0]):
        for c in range(1, num_classes + 1):
            ys, xs = torch.nonzero(gt[b] == c, as_tuple=True)
            if ys.numel() == 0:
                continue
            idx.append(b)
            cls.append(c)
            boxes.append(torch.stack([xs.min(), ys.min(), xs.max(),
                                      ys.max()]).float())
    if not boxes:
        empty = torch.zeros(0, dtype=torch.long, device=gt.device)
        return empty, empty, torch.zeros(0, 4, device=gt.device)
    return (torch.tensor(idx, device=gt.device),
            torch.tensor(cls, device=gt.device), torch.stack(boxes))


def _resolve_checkpoint(path):
    """A ``.pth`` file, or a work dir: its best checkpoint, else its last."""
    if osp.isdir(path):
        best = sorted(glob.glob(osp.join(path, 'best_*.pth')),
                      key=osp.getmtime)
        if best:
            return best[-1]
        last = osp.join(path, 'last_checkpoint')
        if osp.isfile(last):
            with open(last) as f:
                return f.read().strip()
        raise FileNotFoundError(f'no checkpoint in work dir {path}')
    if not osp.isfile(path):
        raise FileNotFoundError(f'stage-1 checkpoint not found: {path}')
    return path


@MODELS.register_module()
class LPSAM(BaseSegmentor):
    """LP-SAM segmentor (mmseg-style; see the module docstring).

    Args:
        stage (int): 1 (adapters) or 2 (latent prompt engine).
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
        prompt_engine_cfg (dict): kwargs of :class:`LatentPromptEngine`.
        loss_cfg (dict): the mask loss (default ``BCEDiceLoss``, α 0.8,
            pos_weight 2).
        iou_loss_weight (float): stage 2: weight of the MSE between the
            decoder's IoU prediction and the IoU it actually reached (trains
            SAM's IoU head, used by the mask-generation score filter).
        score_thr (float): background where every class probability is
            below it.
        data_preprocessor (dict): ``SegDataPreProcessor`` settings.
    """

    def __init__(self,
                 stage=1,
                 num_classes=1,
                 arch='vit_b',
                 img_size=256,
                 sam_checkpoint=None,
                 stage1_checkpoint=None,
                 adapter_cfg=dict(adapter_ratio=0.25, mlp_adapter_scale=0.5),
                 prompt_engine_cfg=dict(num_tokens=2, depth=4, num_heads=8),
                 loss_cfg=dict(type='BCEDiceLoss', alpha=0.8,
                               pos_weight=2.0),
                 iou_loss_weight=1.0,
                 score_thr=0.5,
                 data_preprocessor=None,
                 init_cfg=None):
        if isinstance(data_preprocessor, dict):  # mmseg scope, any caller
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        if stage not in (1, 2):
            raise ValueError(f'stage must be 1 or 2, got {stage}')
        if num_classes < 1:
            raise ValueError(f'num_classes must be >= 1, got {num_classes}')
        self.stage = stage
        self.num_classes = num_classes
        self.img_size = img_size
        self.score_thr = score_thr
        self.iou_loss_weight = iou_loss_weight
        self.align_corners = False
        (self.image_encoder, self.prompt_encoder, self.mask_decoder,
         self.arch) = build_sam_parts(arch, img_size)
        self.grid = img_size // PATCH_SIZE
        register_resize_hook(self.image_encoder,
                             self.arch['global_attn_indexes'])
        self.adapters = SAMAdapters(
            self.arch['embed_dim'], self.arch['depth'],
            self.arch['num_heads'], self.arch['global_attn_indexes'],
            **(adapter_cfg or {}))
        if stage == 2:
            cfg = dict(prompt_engine_cfg or {})
            cfg.setdefault('embed_dim', self.arch['prompt_embed_dim'])
            if cfg['embed_dim'] < 256:  # narrow test architectures
                cfg.setdefault('num_heads', 2)
                cfg.setdefault('prompt_mlp_dim', 2 * cfg['embed_dim'])
                cfg.setdefault('image_mlp_dim', 2 * cfg['embed_dim'])
                cfg.setdefault('cnn_channels', (8, 16, 16, 32))
            self.prompt_engine = LatentPromptEngine(num_classes, **cfg)
        self.loss_fn = MODELS.build(loss_cfg)

        #: (missing, unexpected) keys of the SAM checkpoint load
        self.sam_load_report = None
        if sam_checkpoint:
            self.sam_load_report = load_sam_checkpoint(
                self, sam_checkpoint, self.grid,
                self.arch['global_attn_indexes'])
        if stage1_checkpoint:
            if stage != 2:
                raise ValueError('stage1_checkpoint is a stage-2 argument')
            self.load_stage1(stage1_checkpoint)
        self._freeze()
        n = self.num_trainable_parameters()
        name = arch if isinstance(arch, str) else 'custom arch'
        MMLogger.get_current_instance().info(
            f'LP-SAM stage {stage} ({name}, {img_size}px): {n:,} trainable '
            f'parameters ({n / 1e6:.2f} M)')

    # ------------------------------------------------------------------
    def _trainable_modules(self):
        if self.stage == 1:
            return [self.adapters]
        return [self.prompt_engine, self.mask_decoder]

    def _freeze(self):
        for p in self.parameters():
            p.requires_grad_(False)
        for m in self._trainable_modules():
            for p in m.parameters():
                p.requires_grad_(True)

    def num_trainable_parameters(self):
        """Number of parameters that require grad."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def load_stage1(self, path: str) -> None:
        """Load the encoder, adapters, prompt encoder and decoder of a
        stage-1 checkpoint.

        Args:
            path (str): a stage-1 ``.pth`` or a stage-1 work dir (its best
                checkpoint, else its last).

        Raises:
            FileNotFoundError: no checkpoint there.
            ValueError: the file is unreadable, is no stage-1 checkpoint or
                does not fit the architecture (the key and both shapes are
                named).
        """
        path = _resolve_checkpoint(path)
        state, _ = read_checkpoint(path, what='stage-1 checkpoint')
        wanted = ('image_encoder.', 'adapters.', 'prompt_encoder.',
                  'mask_decoder.')
        load = {k: v for k, v in state.items() if k.startswith(wanted)}
        check_shapes(self, load, path, what='stage-1 checkpoint')
        if not any(k.startswith('adapters.') for k in load):
            raise ValueError(f'{path} is not a stage-1 LP-SAM checkpoint '
                             '(no "adapters." keys)')
        missing = missing_keys(self, load, wanted)
        self.load_state_dict(load, strict=False)
        logger = MMLogger.get_current_instance()
        logger.info(f'LP-SAM: loaded stage-1 weights from {path} '
                    f'({len(load)} keys)')
        if missing:
            logger.warning(f'LP-SAM: keys missing in {path}: {missing}')

    def train(self, mode=True):
        super().train(mode)
        # frozen parts stay in eval mode (no dropout/BN in SAM, but be safe)
        for name, m in self.named_children():
            if m not in self._trainable_modules() and \
                    name != 'data_preprocessor':
                m.eval()
        return self

    # ------------------------------------------------------------------
    def extract_feat(self, inputs):
        """SAM + adapters image embeddings (B, D, S/16, S/16)."""
        if self.stage == 2:
            with torch.no_grad():
                return self.adapters(self.image_encoder, inputs)
        return self.adapters(self.image_encoder, inputs)

    def _dense(self, n, h, w):
        return self.prompt_encoder.no_mask_embed.weight.reshape(
            1, -1, 1, 1).expand(n, -1, h, w)

    def _gt(self, data_samples, size):
        """Label maps (B, H, W) at input size ``size``.

        Training pipelines resize the annotations with the image; test
        pipelines keep them at the original size (for ``IoUMetric``): those
        are resized (nearest) to ``img_shape`` and padded with 255 here.
        """
        out = []
        for ds in data_samples:
            g = ds.gt_sem_seg.data[0]
            if tuple(g.shape) != tuple(size):
                h, w = ds.metainfo.get('img_shape', size)[:2]
                g = F.interpolate(g[None, None].float(), size=(h, w),
                                  mode='nearest')[0, 0].long()
                g = F.pad(g, (0, size[1] - w, 0, size[0] - h), value=255)
            out.append(g)
        return torch.stack(out)

    def _box_logits(self, emb, gt):
        """Stage 1: decode one box prompt per (image, class present)."""
        idx, cls, boxes = boxes_from_masks(gt, self.num_classes)
        if idx.numel() == 0:
            return idx, cls, None, None
        sparse, dense = self.prompt_encoder(points=None, boxes=boxes,
                                            masks=None)
        logits, iou = decode_masks(self.mask_decoder, emb[idx],
                                   self.prompt_encoder.get_dense_pe(),
                                   sparse, dense)
        return idx, cls, logits, iou

    def _latent_logits(self, emb, inputs):
        """Stage 2: all classes of all images in one decoder call."""
        b, d, h, w = emb.shape
        pe = self.prompt_encoder.get_dense_pe()
        sparse = self.prompt_engine(emb, pe, inputs)  # B, C, T, D
        c = self.num_classes
        logits, iou = decode_masks(
            self.mask_decoder, emb.repeat_interleave(c, dim=0), pe,
            sparse.reshape(b * c, -1, d), self._dense(b * c, h, w))
        return logits.reshape(b, c, *logits.shape[-2:]), iou.reshape(b, c)

    def _targets(self, gt, size):
        """Down-sample label maps (nearest) to the decoder's low-res size."""
        small = F.interpolate(gt[:, None].float(), size=size,
                              mode='nearest')[:, 0].long()
        return small

    def loss(self, inputs, data_samples):
        gt = self._gt(data_samples, inputs.shape[-2:])
        emb = self.extract_feat(inputs)
        if self.stage == 1:
            idx, cls, logits, _ = self._box_logits(emb, gt)
            if logits is None:  # no foreground in the batch
                zero = emb.sum() * 0
                return dict(loss_bce=zero, loss_dice=zero)
            small = self._targets(gt, logits.shape[-2:])[idx]
            target = (small == cls[:, None, None]).float()[:, None]
            valid = (small != 255).float()[:, None]
            return self.loss_fn(logits, target, valid)
        logits, iou = self._latent_logits(emb, inputs)
        b, c, h, w = logits.shape
        small = self._targets(gt, (h, w))
        ids = torch.arange(1, c + 1, device=gt.device).view(1, c, 1, 1)
        target = (small[:, None] == ids).float()
        valid = (small[:, None] != 255).float().expand(-1, c, -1, -1)
        losses = self.loss_fn(logits.reshape(b * c, 1, h, w),
                              target.reshape(b * c, 1, h, w),
                              valid.reshape(b * c, 1, h, w))
        if self.iou_loss_weight > 0:
            with torch.no_grad():
                pred = (logits > 0).float() * valid
                inter = (pred * target).flatten(2).sum(-1)
                union = ((pred + target * valid) > 0).float().flatten(
                    2).sum(-1)
                true_iou = torch.where(union > 0, inter / union.clamp(min=1),
                                       torch.ones_like(union))
            losses['loss_iou'] = self.iou_loss_weight * F.mse_loss(
                iou, true_iou)
        return losses

    def predict_probs(self, inputs, data_samples=None):
        """Class probabilities at input size and predicted IoUs.

        Returns:
            tuple[Tensor, Tensor]: (B, C, S, S) probabilities and (B, C)
            predicted IoU (stage 1: of the box prompts; 0 where a class is
            absent from the ground truth).
        """
        emb = self.extract_feat(inputs)
        b = inputs.shape[0]
        size = inputs.shape[-2:]
        if self.stage == 2:
            logits, iou = self._latent_logits(emb, inputs)
            logits = F.interpolate(logits, size=size, mode='bilinear',
                                   align_corners=False)
            return logits.sigmoid(), iou
        if data_samples is None or 'gt_sem_seg' not in data_samples[0]:
            raise ValueError('LP-SAM stage 1 predicts with box prompts from '
                             'the ground truth: data samples need gt_sem_seg '
                             '(use a stage-2 model for mask generation)')
        gt = self._gt(data_samples, inputs.shape[-2:])
        idx, cls, logits, iou_k = self._box_logits(emb, gt)
        probs = inputs.new_zeros(b, self.num_classes, *size)
        iou = inputs.new_zeros(b, self.num_classes)
        if logits is not None:
            up = F.interpolate(logits, size=size, mode='bilinear',
                               align_corners=False).sigmoid()
            probs[idx, cls - 1] = up[:, 0]
            iou[idx, cls - 1] = iou_k[:, 0]
        return probs, iou

    def merge_label_map(self, probs):
        """(B, C, H, W) probabilities → (B, H, W) label map (0..C)."""
        best, arg = probs.max(dim=1)
        return torch.where(best >= self.score_thr, arg + 1,
                           torch.zeros_like(arg))

    def predict(self, inputs, data_samples=None):
        probs, iou = self.predict_probs(inputs, data_samples)
        # channel 0 = background score (the threshold): argmax in
        # postprocess_result then gives 0 where every probability < thr.
        bg = probs.new_full((probs.shape[0], 1, *probs.shape[-2:]),
                            self.score_thr - 1e-6)
        seg = torch.cat([bg, probs], dim=1)
        if data_samples is None:
            from mmseg.structures import SegDataSample
            data_samples = [SegDataSample() for _ in range(len(seg))]
            for ds in data_samples:
                ds.set_metainfo(dict(ori_shape=tuple(seg.shape[-2:]),
                                     img_shape=tuple(seg.shape[-2:])))
        results = self.postprocess_result(seg, data_samples)
        for r, s in zip(results, iou):
            r.set_field(s, 'pred_iou')
        return results

    def _forward(self, inputs, data_samples=None):
        emb = self.extract_feat(inputs)
        if self.stage == 2:
            return self._latent_logits(emb, inputs)[0]
        return emb

    def encode_decode(self, inputs, batch_data_samples):
        return self.predict_probs(inputs, batch_data_samples)[0]
