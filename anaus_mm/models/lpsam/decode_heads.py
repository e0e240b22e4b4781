"""LP-SAM's decode heads: SAM's mask decoder prompted by boxes (stage 1) or
by latent prompts (stage 2) (method.md §1).

Like mmseg's decode heads (``BaseDecodeHead``), a head turns features into
mask logits and owns its loss: ``loss_decode`` (``(1 − α)·BCE + α·Dice`` on
the decoder's low-res logits against the down-sampled label map) and, for the
latent prompts, the IoU targets of SAM's IoU head. Unlike them, a head holds
no weights: SAM's prompt encoder and mask decoder and the latent prompt
engine stay attributes of the :class:`~anaus_mm.models.lpsam.LPSAM`
segmentor, so that checkpoints keep the official SAM key layout
(``prompt_encoder.*``, ``mask_decoder.*``) plus ``prompt_engine.*`` in both
stages. The segmentor passes them to the head as :class:`DecoderModules`.

Both heads decode ``K`` (image, class) pairs in one batched call of SAM's
mask decoder and differ only in their prompts:

* :class:`BoxPromptHead`: one box per (image, class present in the ground
  truth), encoded by SAM's prompt encoder;
* :class:`LatentPromptHead`: every class of every image (``K = B·C``), the
  prompt engine's refined tokens as sparse prompts and the prompt encoder's
  "no mask" embedding as dense prompt.
"""
from typing import Dict, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from segment_anything.modeling import MaskDecoder, PromptEncoder

from .prompt_engine import LatentPromptEngine
from .sam_utils import boxes_from_masks, decode_masks, no_mask_embeddings

__all__ = [
    'DecoderModules', 'MaskLogits', 'SAMMaskHead', 'BoxPromptHead',
    'LatentPromptHead', 'stack_label_maps'
]


class DecoderModules(NamedTuple):
    """The segmentor's modules a head decodes with (not owned by the head).

    Attributes:
        prompt_encoder (PromptEncoder): SAM's prompt encoder.
        mask_decoder (MaskDecoder): SAM's mask decoder.
        prompt_engine (LatentPromptEngine, optional): the latent prompt
            engine (stage 2 only).
    """
    prompt_encoder: PromptEncoder
    mask_decoder: MaskDecoder
    prompt_engine: Optional[LatentPromptEngine] = None


class MaskLogits(NamedTuple):
    """A head's output: ``K`` decoded (image, class) pairs, image-major.

    Attributes:
        logits (Tensor): ``(K, 1, h, w)`` low-res mask logits.
        iou (Tensor): ``(K, 1)`` predicted IoU.
        img_idx (Tensor): ``(K,)`` image index in the batch.
        cls_ids (Tensor): ``(K,)`` class id ``1..C``.
    """
    logits: torch.Tensor
    iou: torch.Tensor
    img_idx: torch.Tensor
    cls_ids: torch.Tensor


def stack_label_maps(data_samples: Sequence[SegDataSample],
                     size: Sequence[int]) -> torch.Tensor:
    """The ground-truth label maps of a batch at input size ``size``.

    Training pipelines resize the annotations with the image; test pipelines
    keep them at the original size (for ``IoUMetric``): those are resized
    (nearest) to the sample's ``img_shape`` and padded with 255.

    Args:
        data_samples (Sequence[SegDataSample]): samples with ``gt_sem_seg``.
        size (Sequence[int]): ``(H, W)`` of the (padded) input batch.

    Returns:
        Tensor: ``(B, H, W)`` label ids (0 background, 255 ignore).
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


def _has_gt(data_samples: Optional[Sequence[SegDataSample]]) -> bool:
    return bool(data_samples) and 'gt_sem_seg' in data_samples[0]


class SAMMaskHead(BaseModule):
    """Base of LP-SAM's heads: SAM's mask decoder, loss and prediction.

    Subclasses implement :meth:`forward` (prompts → :class:`MaskLogits`).

    Args:
        num_classes (int): anatomy classes ``C`` (label ids ``1..C``).
        loss_decode (dict): the mask loss, built from mmseg's ``MODELS``;
            called as ``loss(logits, target, valid)`` and returning a dict
            of losses. Defaults to ``BCEDiceLoss`` with α 0.8 and BCE
            ``pos_weight`` 2 (the reference code).
        iou_loss_weight (float): weight of the MSE between the decoder's IoU
            prediction and the IoU its mask actually reaches (trains SAM's
            IoU head, used by the mask-generation score filter); 0 turns the
            term off. Defaults to 0.
        loss_resolution (str): where the loss compares masks: ``'low'``
            (the decoder's ``S/4`` output against the label map down-sampled
            by nearest neighbour; the reference code) or ``'input'`` (the
            logits up-sampled bilinearly to the input size, as at
            prediction; thin structures such as a fascia line survive).
            Defaults to ``'low'``.
        init_cfg (dict, optional): mmengine initialisation config.
    """
    #: whether the prompts come from the ground truth (then the head cannot
    #: predict without it)
    prompts_from_gt: bool = False

    def __init__(self,
                 num_classes: int,
                 loss_decode: dict = dict(type='BCEDiceLoss', alpha=0.8,
                                          pos_weight=2.0),
                 iou_loss_weight: float = 0.0,
                 loss_resolution: str = 'low',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_classes < 1:
            raise ValueError(f'num_classes must be >= 1, got {num_classes}')
        if loss_resolution not in ('low', 'input'):
            raise ValueError('loss_resolution must be "low" or "input", got '
                             f'{loss_resolution!r}')
        self.num_classes = num_classes
        self.iou_loss_weight = iou_loss_weight
        self.loss_resolution = loss_resolution
        self.loss_decode = MODELS.build(loss_decode)

    def forward(self,
                modules: DecoderModules,
                image_embeddings: torch.Tensor,
                inputs: torch.Tensor,
                gt: Optional[torch.Tensor] = None) -> MaskLogits:
        """Decode the head's prompts.

        Args:
            modules (DecoderModules): SAM's prompt encoder, mask decoder
                (and the prompt engine).
            image_embeddings (Tensor): ``(B, D, h, w)`` SAM (+ adapters)
                image embeddings.
            inputs (Tensor): ``(B, 3, H, W)`` normalised input images.
            gt (Tensor, optional): ``(B, H, W)`` label maps at input size.

        Returns:
            MaskLogits: the decoded (image, class) pairs.
        """
        raise NotImplementedError

    def loss(self, modules: DecoderModules, image_embeddings: torch.Tensor,
             inputs: torch.Tensor,
             data_samples: Sequence[SegDataSample]) -> Dict[str, torch.Tensor]:
        """Decode and compute the losses of a training batch.

        Args:
            modules (DecoderModules): see :meth:`forward`.
            image_embeddings (Tensor): ``(B, D, h, w)`` image embeddings.
            inputs (Tensor): ``(B, 3, H, W)`` normalised input images.
            data_samples (Sequence[SegDataSample]): with ``gt_sem_seg``.

        Returns:
            dict[str, Tensor]: ``loss_bce``, ``loss_dice`` (and ``loss_iou``
            when ``iou_loss_weight > 0``).
        """
        gt = stack_label_maps(data_samples, inputs.shape[-2:])
        out = self.forward(modules, image_embeddings, inputs, gt)
        if out.logits.shape[0] == 0:  # no foreground in the batch
            zero = image_embeddings.sum() * 0  # keeps the graph (DDP)
            losses = dict(loss_bce=zero, loss_dice=zero)
            if self.iou_loss_weight > 0:
                losses['loss_iou'] = zero
            return losses
        return self.loss_by_feat(out, gt)

    def loss_by_feat(self, out: MaskLogits,
                     gt: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Losses of decoded pairs against the down-sampled label maps.

        Args:
            out (MaskLogits): ``K > 0`` decoded pairs.
            gt (Tensor): ``(B, H, W)`` label maps at input size.

        Returns:
            dict[str, Tensor]: the losses of ``loss_decode`` plus
            ``loss_iou`` when ``iou_loss_weight > 0``.
        """
        if self.loss_resolution == 'input':
            out = out._replace(logits=F.interpolate(
                out.logits, size=gt.shape[-2:], mode='bilinear',
                align_corners=False))
        target, valid = self.get_targets(gt, out)
        losses = self.loss_decode(out.logits, target, valid)
        if self.iou_loss_weight > 0:
            true_iou = self.get_iou_targets(out.logits, target, valid)
            losses['loss_iou'] = self.iou_loss_weight * F.mse_loss(
                out.iou[:, 0], true_iou)
        return losses

    @staticmethod
    def get_targets(gt: torch.Tensor,
                    out: MaskLogits) -> Tuple[torch.Tensor, torch.Tensor]:
        """Binary targets and valid-pixel masks at the logits' size.

        The label maps are down-sampled (nearest) to the decoder's low-res
        output; pixels labelled 255 are not valid.

        Args:
            gt (Tensor): ``(B, H, W)`` label maps at input size.
            out (MaskLogits): the decoded pairs.

        Returns:
            tuple[Tensor, Tensor]: target and valid, both float
            ``(K, 1, h, w)``.
        """
        small = F.interpolate(gt[:, None].float(), size=out.logits.shape[-2:],
                              mode='nearest')[:, 0].long()[out.img_idx]
        target = (small == out.cls_ids[:, None, None]).float()[:, None]
        valid = (small != 255).float()[:, None]
        return target, valid

    @staticmethod
    @torch.no_grad()
    def get_iou_targets(logits: torch.Tensor, target: torch.Tensor,
                        valid: torch.Tensor) -> torch.Tensor:
        """The IoU each mask reaches (targets of SAM's IoU head).

        Args:
            logits (Tensor): ``(K, 1, h, w)`` mask logits (mask: logit > 0).
            target (Tensor): ``(K, 1, h, w)`` binary targets.
            valid (Tensor): ``(K, 1, h, w)`` 1 at pixels that count.

        Returns:
            Tensor: ``(K,)`` IoU over the valid pixels; 1 where both the
            mask and the target are empty.
        """
        pred = (logits > 0).float() * valid
        inter = (pred * target).flatten(1).sum(-1)
        union = ((pred + target * valid) > 0).float().flatten(1).sum(-1)
        return torch.where(union > 0, inter / union.clamp(min=1),
                           torch.ones_like(union))

    def predict(
        self,
        modules: DecoderModules,
        image_embeddings: torch.Tensor,
        inputs: torch.Tensor,
        data_samples: Optional[Sequence[SegDataSample]] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Class probabilities at input size and predicted IoUs.

        Args:
            modules (DecoderModules): see :meth:`forward`.
            image_embeddings (Tensor): ``(B, D, h, w)`` image embeddings.
            inputs (Tensor): ``(B, 3, H, W)`` normalised input images.
            data_samples (Sequence[SegDataSample], optional): their
                ``gt_sem_seg`` is used by heads whose prompts come from the
                ground truth.

        Returns:
            tuple[Tensor, Tensor]: ``(B, C, H, W)`` probabilities and
            ``(B, C)`` predicted IoUs (0 for pairs that were not decoded).
        """
        gt = stack_label_maps(data_samples, inputs.shape[-2:]) \
            if _has_gt(data_samples) else None
        out = self.forward(modules, image_embeddings, inputs, gt)
        return self.predict_by_feat(out, inputs)

    def predict_by_feat(
            self, out: MaskLogits,
            inputs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Up-sample (bilinear) the decoded pairs into per-class maps.

        Args:
            out (MaskLogits): the decoded pairs.
            inputs (Tensor): ``(B, 3, H, W)`` input batch (size, dtype).

        Returns:
            tuple[Tensor, Tensor]: ``(B, C, H, W)`` probabilities and
            ``(B, C)`` predicted IoUs.
        """
        b, size = inputs.shape[0], inputs.shape[-2:]
        probs = inputs.new_zeros(b, self.num_classes, *size)
        iou = inputs.new_zeros(b, self.num_classes)
        if out.logits.shape[0]:
            up = F.interpolate(out.logits, size=size, mode='bilinear',
                               align_corners=False).sigmoid()
            probs[out.img_idx, out.cls_ids - 1] = up[:, 0]
            iou[out.img_idx, out.cls_ids - 1] = out.iou[:, 0]
        return probs, iou


@MODELS.register_module()
class BoxPromptHead(SAMMaskHead):
    """Stage 1: SAM's frozen prompt encoder + mask decoder, prompted by one
    box per (image, class present) derived from the ground truth.

    It trains the encoder's adapters on real SAM prompts; it needs the
    ground truth to predict as well (validation Dice of the adapted
    encoder). Arguments as :class:`SAMMaskHead`.
    """
    prompts_from_gt = True

    def forward(self,
                modules: DecoderModules,
                image_embeddings: torch.Tensor,
                inputs: torch.Tensor,
                gt: Optional[torch.Tensor] = None) -> MaskLogits:
        """Decode one box prompt per (image, class present in ``gt``).

        Args:
            modules (DecoderModules): SAM's prompt encoder and mask decoder.
            image_embeddings (Tensor): ``(B, D, h, w)`` image embeddings.
            inputs (Tensor): ``(B, 3, H, W)`` input images (unused).
            gt (Tensor): ``(B, H, W)`` label maps at input size.

        Returns:
            MaskLogits: ``K`` pairs (``K = 0`` without foreground).

        Raises:
            ValueError: ``gt`` is None.
        """
        if gt is None:
            raise ValueError(
                'LP-SAM stage 1 predicts with box prompts from the ground '
                'truth: data samples need gt_sem_seg (use a stage-2 model '
                'for mask generation)')
        idx, cls, boxes = boxes_from_masks(gt, self.num_classes)
        if idx.numel() == 0:
            h, w = image_embeddings.shape[-2:]
            empty = image_embeddings.new_zeros(0, 1, 4 * h, 4 * w)
            return MaskLogits(empty, empty.new_zeros(0, 1), idx, cls)
        enc = modules.prompt_encoder
        sparse, dense = enc(points=None, boxes=boxes, masks=None)
        logits, iou = decode_masks(modules.mask_decoder,
                                   image_embeddings[idx], enc.get_dense_pe(),
                                   sparse, dense)
        return MaskLogits(logits, iou, idx, cls)


@MODELS.register_module()
class LatentPromptHead(SAMMaskHead):
    """Stage 2: SAM's mask decoder prompted by the latent prompt engine.

    Every class of every image is decoded in one batched call (``K = B·C``):
    the engine's refined tokens of class ``c`` are the sparse prompts, the
    prompt encoder's "no mask" embedding the dense prompt,
    ``multimask_output=False``. No manual prompts, so it predicts without
    ground truth (mask generation).

    Args:
        num_classes (int): anatomy classes ``C``.
        loss_decode (dict): the mask loss (see :class:`SAMMaskHead`).
        iou_loss_weight (float): weight of the IoU-head loss. Defaults to
            1.0.
        loss_resolution (str): ``'low'`` or ``'input'`` (see
            :class:`SAMMaskHead`).
        init_cfg (dict, optional): mmengine initialisation config.
    """

    def __init__(self,
                 num_classes: int,
                 loss_decode: dict = dict(type='BCEDiceLoss', alpha=0.8,
                                          pos_weight=2.0),
                 iou_loss_weight: float = 1.0,
                 loss_resolution: str = 'low',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(num_classes, loss_decode=loss_decode,
                         iou_loss_weight=iou_loss_weight,
                         loss_resolution=loss_resolution, init_cfg=init_cfg)

    def forward(self,
                modules: DecoderModules,
                image_embeddings: torch.Tensor,
                inputs: torch.Tensor,
                gt: Optional[torch.Tensor] = None) -> MaskLogits:
        """Decode every class of every image with the latent prompts.

        Args:
            modules (DecoderModules): with the prompt engine.
            image_embeddings (Tensor): ``(B, D, h, w)`` image embeddings.
            inputs (Tensor): ``(B, 3, H, W)`` normalised input images (the
                prompt engine's CNN embedding reads them).
            gt (Tensor, optional): unused.

        Returns:
            MaskLogits: ``B·C`` pairs, image-major.
        """
        b, d, h, w = image_embeddings.shape
        c = self.num_classes
        pe = modules.prompt_encoder.get_dense_pe()
        sparse = modules.prompt_engine(image_embeddings, pe, inputs)  # BCTD
        logits, iou = decode_masks(
            modules.mask_decoder,
            image_embeddings.repeat_interleave(c, dim=0), pe,
            sparse.reshape(b * c, -1, d),
            no_mask_embeddings(modules.prompt_encoder, b * c, h, w))
        device = image_embeddings.device
        img_idx = torch.arange(b, device=device).repeat_interleave(c)
        cls_ids = torch.arange(1, c + 1, device=device).repeat(b)
        return MaskLogits(logits, iou, img_idx, cls_ids)


def sample_points(gt: torch.Tensor, img_idx: torch.Tensor,
                  cls_ids: torch.Tensor) -> torch.Tensor:
    """One point drawn uniformly inside each (image, class) region.

    Args:
        gt (Tensor): ``(B, H, W)`` label maps.
        img_idx (Tensor): ``(K,)`` image index of each region.
        cls_ids (Tensor): ``(K,)`` class id of each region (present in its
            image).

    Returns:
        Tensor: ``(K, 2)`` pixel coordinates ``(x, y)`` (float).
    """
    points = []
    for b, c in zip(img_idx.tolist(), cls_ids.tolist()):
        ys, xs = torch.nonzero(gt[b] == c, as_tuple=True)
        j = int(torch.randint(len(ys), (1, )))
        points.append(torch.stack([xs[j], ys[j]]))
    return torch.stack(points).float()


def jitter_boxes(boxes: torch.Tensor, noise: float, max_px: float,
                 size: Sequence[int]) -> torch.Tensor:
    """SAM's box-prompt noise: each coordinate moves by a normal draw with
    a standard deviation of ``noise`` × the box side, at most ``max_px``
    pixels, and stays inside the image.

    Args:
        boxes (Tensor): ``(K, 4)`` XYXY boxes in pixels.
        noise (float): standard deviation as a share of the box side
            (SAM: 0.1).
        max_px (float): largest displacement in pixels (SAM: 20 at 1024).
        size (Sequence[int]): ``(H, W)`` of the input.

    Returns:
        Tensor: ``(K, 4)`` jittered boxes (x1 ≤ x2, y1 ≤ y2).
    """
    w = (boxes[:, 2] - boxes[:, 0] + 1).clamp(min=1)
    h = (boxes[:, 3] - boxes[:, 1] + 1).clamp(min=1)
    std = noise * torch.stack([w, h, w, h], dim=1)
    out = boxes + (torch.randn_like(boxes) * std).clamp(-max_px, max_px)
    x = out[:, 0::2].clamp(0, size[1] - 1).sort(dim=1).values
    y = out[:, 1::2].clamp(0, size[0] - 1).sort(dim=1).values
    return torch.stack([x[:, 0], y[:, 0], x[:, 1], y[:, 1]], dim=1)


@MODELS.register_module()
class SampledPromptHead(BoxPromptHead):
    """Stage 0 (the SAM stand-in): SAM's prompt encoder and mask decoder
    trained class-agnostically with prompts sampled as SAM was trained.

    Every (image, anatomy region) of the ground truth is one object; the
    class id only says which pixels form it, the model never sees it. An
    object is prompted by a jittered box (probability ``box_prob``; SAM's
    noise, :func:`jitter_boxes`) or by one positive point drawn inside it;
    a point is ambiguous, so its three ambiguity-aware outputs are decoded
    and only the one closest to the object (highest IoU) receives the mask
    loss, as SAM back-propagates only its minimum loss. SAM's IoU head
    learns the IoU of every output (all three of a point prompt): the
    automatic mask generator filters its masks by that prediction.

    At prediction it prompts one exact box per region, as
    :class:`BoxPromptHead` (validation Dice with ground-truth boxes).

    Reference: Kirillov et al., *Segment Anything*, §3 and appendix A
    (https://arxiv.org/abs/2304.02643).

    Args:
        num_classes (int): label ids ``1..C`` whose regions are objects.
        box_prob (float): share of box prompts; the rest are points.
            Defaults to 0.5.
        box_noise (float): box jitter, a share of the box side (SAM: 0.1).
        box_noise_max (float): largest jitter as a share of the input side
            (SAM: 20 px at 1024 ≈ 0.02). Defaults to 0.02.
        loss_decode (dict): the mask loss (see :class:`SAMMaskHead`).
        iou_loss_weight (float): weight of the IoU-head loss. Defaults to
            1.0.
        loss_resolution (str): ``'low'`` or ``'input'`` (default; see
            :class:`SAMMaskHead`).
        init_cfg (dict, optional): mmengine initialisation config.
    """

    def __init__(self,
                 num_classes: int,
                 box_prob: float = 0.5,
                 box_noise: float = 0.1,
                 box_noise_max: float = 0.02,
                 loss_decode: dict = dict(type='BCEDiceLoss', alpha=0.8,
                                          pos_weight=2.0),
                 iou_loss_weight: float = 1.0,
                 loss_resolution: str = 'input',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(num_classes, loss_decode=loss_decode,
                         iou_loss_weight=iou_loss_weight,
                         loss_resolution=loss_resolution, init_cfg=init_cfg)
        if not 0.0 <= box_prob <= 1.0:
            raise ValueError(f'box_prob must be in [0, 1], got {box_prob}')
        self.box_prob = box_prob
        self.box_noise = box_noise
        self.box_noise_max = box_noise_max

    def loss(self, modules: DecoderModules, image_embeddings: torch.Tensor,
             inputs: torch.Tensor,
             data_samples: Sequence[SegDataSample]) -> Dict[str, torch.Tensor]:
        """Decode sampled box and point prompts; mask and IoU losses.

        Args:
            modules (DecoderModules): SAM's prompt encoder and mask decoder.
            image_embeddings (Tensor): ``(B, D, h, w)`` image embeddings.
            inputs (Tensor): ``(B, 3, H, W)`` normalised input images.
            data_samples (Sequence[SegDataSample]): with ``gt_sem_seg``.

        Returns:
            dict[str, Tensor]: ``loss_bce``, ``loss_dice`` of the chosen
            masks and ``loss_iou`` of every output.
        """
        size = inputs.shape[-2:]
        gt = stack_label_maps(data_samples, size)
        idx, cls, boxes = boxes_from_masks(gt, self.num_classes)
        if idx.numel() == 0:
            zero = image_embeddings.sum() * 0
            return dict(loss_bce=zero, loss_dice=zero, loss_iou=zero)
        enc, pe = modules.prompt_encoder, modules.prompt_encoder.get_dense_pe()
        use_box = torch.rand(len(idx), device=idx.device) < self.box_prob
        logits, ious, pred_ious, order = [], [], [], []
        if use_box.any():
            k = use_box.nonzero()[:, 0]
            jit = jitter_boxes(boxes[k], self.box_noise,
                               self.box_noise_max * max(size), size)
            sparse, dense = enc(points=None, boxes=jit, masks=None)
            lg, iou = decode_masks(modules.mask_decoder,
                                   image_embeddings[idx[k]], pe, sparse,
                                   dense)
            logits.append(lg)
            pred_ious.append(iou)
            order.append(k)
        if (~use_box).any():
            k = (~use_box).nonzero()[:, 0]
            pts = sample_points(gt, idx[k], cls[k])[:, None]
            labels = torch.ones(len(k), 1, dtype=torch.int,
                                device=pts.device)
            sparse, dense = enc(points=(pts, labels), boxes=None, masks=None)
            lg, iou = decode_masks(modules.mask_decoder,
                                   image_embeddings[idx[k]], pe, sparse,
                                   dense, multimask_output=True)
            m = lg.shape[1]
            out = MaskLogits(lg.flatten(0, 1)[:, None], iou.reshape(-1, 1),
                             idx[k].repeat_interleave(m),
                             cls[k].repeat_interleave(m))
            true_iou = self._true_iou(out, gt).reshape(len(k), m)
            best = true_iou.argmax(dim=1)
            rows = torch.arange(len(k), device=lg.device)
            logits.append(lg[rows, best][:, None])
            pred_ious.append(iou)
            ious.append((iou, true_iou))
            order.append(k)
        order = torch.cat(order)
        out = MaskLogits(torch.cat(logits), None, idx[order], cls[order])
        losses = self.loss_by_feat(out._replace(iou=torch.zeros(
            len(order), 1, device=idx.device)), gt)
        losses.pop('loss_iou', None)
        # IoU head: every output (boxes: 1, points: 3)
        preds, targets = [], []
        if use_box.any():
            k = use_box.nonzero()[:, 0]
            box_out = MaskLogits(logits[0], pred_ious[0], idx[k], cls[k])
            preds.append(pred_ious[0][:, 0])
            targets.append(self._true_iou(box_out, gt))
        for pred, true in ious:
            preds.append(pred.flatten())
            targets.append(true.flatten())
        losses['loss_iou'] = self.iou_loss_weight * F.mse_loss(
            torch.cat(preds), torch.cat(targets))
        return losses

    def _true_iou(self, out: MaskLogits, gt: torch.Tensor) -> torch.Tensor:
        """``(K,)`` IoU of each decoded mask with its region, measured where
        the loss compares masks (see ``loss_resolution``)."""
        logits = out.logits
        if self.loss_resolution == 'input':
            logits = F.interpolate(logits, size=gt.shape[-2:],
                                   mode='bilinear', align_corners=False)
        target, valid = self.get_targets(gt, out._replace(logits=logits))
        return self.get_iou_targets(logits.detach(), target, valid)
