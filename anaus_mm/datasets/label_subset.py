"""Grouped, stratified label subsets for label-efficiency experiments.

Pre-training pays off when labels are scarce, so downstream tasks are also
fine-tuned on a fraction of each training fold. :func:`select_label_subset`
picks that fraction (a pure function of its arguments: every method gets the
same subset for the same seed) and :class:`GroupKFoldDataset` applies it to
the training side of a fold.

Rounding rule. Groups (patients, videos, images) are assigned to the class
of the majority of their samples (ties: the smallest class, as text). For
every class with ``s`` samples the target is ``fraction * s`` samples. Its
groups are visited in a seeded random order and a group is kept when keeping
it brings the class total closer to the target (strictly: ``total + size / 2
< target``). So the kept count is within half the largest group size of the
target; with one-sample groups it is ``max(1, ceil(fraction * s - 0.5))``,
within half a sample of the target. At least one group of every class is
kept (the first group of the seeded order when the rule keeps none). With
one-sample groups the subsets of one seed are nested (the 10 % subset is
inside the 25 % one).
"""
from collections import Counter, OrderedDict
from typing import Hashable, List, Optional, Sequence

import numpy as np

__all__ = ['select_label_subset']


def _group_classes(groups, labels):
    members = OrderedDict()
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    use_labels = labels is not None and any(x is not None for x in labels)
    classes = OrderedDict()
    for g, idx in members.items():
        if use_labels:
            counts = Counter(str(labels[i]) for i in idx)
            top = max(counts.values())
            cls = min(c for c, n in counts.items() if n == top)
        else:
            cls = ''
        classes.setdefault(cls, []).append(g)
    return members, classes


def select_label_subset(groups: Sequence[Hashable],
                        labels: Optional[Sequence[Hashable]] = None,
                        fraction: float = 1.0,
                        seed: int = 0) -> List[int]:
    """Indices of a grouped, class-stratified subset of the samples.

    Args:
        groups (Sequence[Hashable]): group id of every sample.
        labels (Sequence[Hashable], optional): class of every sample (None
            entries or ``labels=None``: one stratum, e.g. segmentation).
        fraction (float): share of the samples to keep, ``0 < f <= 1``.
        seed (int): seed of the group order (same seed, same subset).

    Returns:
        list[int]: sorted indices of the kept samples (all of them for
        ``fraction == 1``).
    """
    fraction = float(fraction)
    if not 0 < fraction <= 1:
        raise ValueError(f'label fraction must be in (0, 1], got {fraction}')
    if labels is not None and len(labels) != len(groups):
        raise ValueError(f'{len(groups)} groups but {len(labels)} labels')
    if fraction == 1:
        return list(range(len(groups)))
    members, classes = _group_classes(groups, labels)
    rng = np.random.RandomState(seed)
    keep = []
    for cls in sorted(classes):  # fixed class order: seed-stable draws
        cand = classes[cls]
        order = [cand[k] for k in rng.permutation(len(cand))]
        target = fraction * sum(len(members[g]) for g in cand)
        total, chosen = 0, []
        for g in order:
            size = len(members[g])
            if total + size / 2 < target:
                chosen.append(g)
                total += size
        if not chosen:
            chosen = order[:1]
        for g in chosen:
            keep += members[g]
    return sorted(keep)
