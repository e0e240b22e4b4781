"""Anatomy-mask pooling: majority-vote down-sampling, id sampling, ROI means.

ANAUS (https://arxiv.org/abs/2605.25402), method.md §2 "Mask pooling".
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

__all__ = ['majority_vote_downsample', 'majority_vote_pyramid',
           'sample_anatomy_ids', 'roi_pool', 'compact_ids']


def majority_vote_downsample(masks: torch.Tensor, size: Tuple[int, int],
                             num_classes: Optional[int] = None
                             ) -> torch.Tensor:
    """Down-sample label maps by majority vote (one-hot → avg pool → argmax).

    Args:
        masks (Tensor): Integer label maps, (B, H, W).
        size (tuple[int, int]): Output (h, w) (the feature grid).
        num_classes (int, optional): Number of ids; ``max id + 1`` if None.

    Returns:
        Tensor: (B, h, w) long label maps. Ties go to the smaller id.
    """
    masks = masks.long()
    if num_classes is None:
        num_classes = int(masks.max()) + 1
    onehot = F.one_hot(masks, num_classes).permute(0, 3, 1, 2).float()
    votes = F.adaptive_avg_pool2d(onehot, tuple(size))
    return votes.argmax(dim=1)


def majority_vote_pyramid(masks: torch.Tensor,
                          sizes: Sequence[Tuple[int, int]],
                          num_classes: Optional[int] = None
                          ) -> List[torch.Tensor]:
    """:func:`majority_vote_downsample` to several grids at once.

    The one-hot planes are built once; a grid that evenly divides a finer
    one already computed is pooled from that finer grid's votes (the mean of
    equal-block means is the block mean), else from the full-resolution
    planes. Same result as one :func:`majority_vote_downsample` per size.

    Args:
        masks (Tensor): Integer label maps, (B, H, W).
        sizes (Sequence[tuple[int, int]]): Output grids, any order.
        num_classes (int, optional): Number of ids; ``max id + 1`` if None.

    Returns:
        list[Tensor]: (B, h, w) long label maps, in the order of ``sizes``.
    """
    masks = masks.long()
    if num_classes is None:
        num_classes = int(masks.max()) + 1
    full = F.one_hot(masks, num_classes).permute(0, 3, 1, 2).float()
    done = {}  # (h, w) -> votes
    order = sorted(set(tuple(int(v) for v in s) for s in sizes),
                   key=lambda s: -s[0] * s[1])
    for size in order:
        source = full
        for (h, w), votes in done.items():
            if h % size[0] == 0 and w % size[1] == 0 and \
                    masks.shape[-2] % h == 0 and masks.shape[-1] % w == 0:
                source = votes
                break
        done[size] = F.adaptive_avg_pool2d(source, size)
    return [done[tuple(int(v) for v in s)].argmax(dim=1) for s in sizes]


def compact_ids(masks: torch.Tensor, ids: torch.Tensor
                ) -> Tuple[torch.Tensor, torch.Tensor, int]:
    """Renumber the ids present in ``masks`` to ``0..n-1``.

    Label maps may use any id in 0..255; the one-hot planes of the majority
    vote need only as many planes as ids present. A histogram and a lookup
    table do it in one pass (no sort of the full-resolution maps).

    Args:
        masks (Tensor): Integer label maps, any shape.
        ids (Tensor): Sampled ids (present in ``masks``).

    Returns:
        tuple[Tensor, Tensor, int]: Renumbered masks and ids, and ``n``.
    """
    flat = masks.reshape(-1).long()
    present = torch.bincount(flat) > 0
    lut = present.long().cumsum(0) - 1
    return lut[masks.long()], lut[ids], int(present.sum())


def sample_anatomy_ids(masks: torch.Tensor, num_samples: int = 16,
                       mode: str = 'area', num_classes: Optional[int] = None,
                       generator: Optional[torch.Generator] = None
                       ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Sample ``num_samples`` anatomy ids per image, with replacement.

    Args:
        masks (Tensor): (B, ...) integer label maps the ids are drawn from
            (e.g. both views of each image stacked: (B, 2, H, W)).
        mode (str): ``'area'`` weights an id by its pixel count (paper),
            ``'uniform'`` gives every present id the same weight.

    Returns:
        tuple[Tensor, Tensor]: ids (B, K) long and ``counts`` (B, K), how
        many times the id of each ROI was sampled in its image (for the
        1/count ROI weights).
    """
    if mode not in ('area', 'uniform'):
        raise ValueError(f"sampling mode must be 'area' or 'uniform', got "
                         f'{mode!r}')
    flat = masks.reshape(masks.shape[0], -1).long()
    if num_classes is None:
        num_classes = int(flat.max()) + 1
    area = torch.zeros(flat.shape[0], num_classes, device=flat.device)
    area.scatter_add_(1, flat, torch.ones_like(flat, dtype=area.dtype))
    weights = area if mode == 'area' else (area > 0).float()
    ids = torch.multinomial(weights, num_samples, replacement=True,
                            generator=generator)
    counts = (ids.unsqueeze(2) == ids.unsqueeze(1)).sum(-1)
    return ids, counts


def roi_pool(feats: torch.Tensor, masks: torch.Tensor,
             ids: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Mean feature of the cells of each sampled id.

    Args:
        feats (Tensor): (B, C, h, w) features.
        masks (Tensor): (B, h, w) labels on the same grid.
        ids (Tensor): (B, K) sampled ids.

    Returns:
        tuple[Tensor, Tensor]: ROI features (B, K, C) and ``valid`` (B, K)
        bool: False where the id has no cell in this view at this scale
        (absent after cropping or lost by down-sampling). Such ROIs are
        zeros and must be masked out by the losses, never pooled as zeros.
    """
    member = (masks.flatten(1).unsqueeze(1) == ids.unsqueeze(2)).to(
        feats.dtype)  # (B, K, hw)
    area = member.sum(-1)
    pooled = torch.bmm(member, feats.flatten(2).transpose(1, 2))
    pooled = pooled / area.clamp_min(1).unsqueeze(-1)
    return pooled, area > 0
