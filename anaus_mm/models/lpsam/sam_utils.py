"""SAM-level helpers of LP-SAM: batched mask decoding, box prompts from label
maps, the prompt encoder's "no mask" embedding, label-map merging.

They use the modules of the ``segment-anything`` package as they are (no
copy, no change) and hold no state.
"""
from typing import Tuple

import torch
from segment_anything.modeling import MaskDecoder, PromptEncoder

__all__ = [
    'decode_masks', 'boxes_from_masks', 'no_mask_embeddings',
    'merge_label_map'
]


def decode_masks(mask_decoder: MaskDecoder, image_embeddings: torch.Tensor,
                 image_pe: torch.Tensor, sparse: torch.Tensor,
                 dense: torch.Tensor,
                 multimask_output: bool = False
                 ) -> Tuple[torch.Tensor, torch.Tensor]:
    """SAM's ``MaskDecoder.predict_masks`` for a batch of (image, prompt).

    ``MaskDecoder.forward`` repeats one image embedding per prompt; here row
    ``n`` of ``image_embeddings`` already belongs to prompt ``n``, so a whole
    batch of images × prompts runs in one call. Only the decoder's own
    modules are used. As ``MaskDecoder.forward``, it returns the single-mask
    output (mask token 0) or the three ambiguity-aware outputs (tokens 1–3,
    ``multimask_output=True``).

    Args:
        mask_decoder (MaskDecoder): SAM's mask decoder.
        image_embeddings (Tensor): ``(N, D, h, w)``, one row per prompt.
        image_pe (Tensor): ``(1, D, h, w)`` dense positional encoding
            (``PromptEncoder.get_dense_pe()``).
        sparse (Tensor): ``(N, T, D)`` sparse prompt embeddings.
        dense (Tensor): ``(N, D, h, w)`` dense prompt embeddings.
        multimask_output (bool): the three ambiguity-aware masks instead of
            the single one. Defaults to False.

    Returns:
        tuple[Tensor, Tensor]: logits ``(N, M, 4h, 4w)`` and IoU
        predictions ``(N, M)``, ``M = 3`` with ``multimask_output`` else 1.
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
    keep = slice(1, None) if multimask_output else slice(0, 1)
    return masks[:, keep], iou[:, keep]


def boxes_from_masks(
        gt: torch.Tensor,
        num_classes: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One XYXY box per (image, class present) of label maps ``gt``.

    Args:
        gt (Tensor): ``(B, H, W)`` label ids (0 background, 255 ignore).
        num_classes (int): foreground classes ``1..C``.

    Returns:
        tuple[Tensor, Tensor, Tensor]: image index ``(K,)``, class id
        ``(K,)`` and boxes ``(K, 4)`` in pixel coordinates, image-major.
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


def no_mask_embeddings(prompt_encoder: PromptEncoder, n: int, h: int,
                       w: int) -> torch.Tensor:
    """The prompt encoder's dense embedding for "no mask prompt".

    Args:
        prompt_encoder (PromptEncoder): SAM's prompt encoder.
        n (int): number of prompts.
        h (int): embedding grid height.
        w (int): embedding grid width.

    Returns:
        Tensor: ``(n, D, h, w)``, an expanded view of ``no_mask_embed``.
    """
    return prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(
        n, -1, h, w)


def merge_label_map(probs: torch.Tensor, score_thr: float) -> torch.Tensor:
    """Merge per-class probabilities into a label map.

    Args:
        probs (Tensor): ``(B, C, H, W)`` probabilities of classes ``1..C``.
        score_thr (float): background where every probability is below it.

    Returns:
        Tensor: ``(B, H, W)`` label ids ``0..C`` (argmax + 1, else 0).
    """
    best, arg = probs.max(dim=1)
    return torch.where(best >= score_thr, arg + 1, torch.zeros_like(arg))
