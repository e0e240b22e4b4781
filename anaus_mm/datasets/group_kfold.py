"""Grouped (and, where labels exist, stratified) k-fold cross-validation.

mmpretrain's ``KFoldDataset`` splits by index, which puts frames of one video
or images of one patient into several folds and so leaks between training
and test. :class:`GroupKFoldDataset` keeps every group (patient, video or
image id: each dataset says which, through ``get_group(idx)`` or the
``group_id`` key of its data infos) inside one fold, and balances the class
mix of the folds when the dataset has labels (``gt_label``) or strata
(``stratum``).

For label-efficiency experiments the training side can keep only a grouped,
stratified ``label_fraction`` of the fold's training samples
(:func:`~anaus_mm.datasets.label_subset.select_label_subset`, chosen by
``subset_seed``); the test side is always the whole fold.
"""
import copy
from collections import Counter, OrderedDict
from typing import Any, Hashable, List, Optional, Sequence, Union

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.registry import DefaultScope
from mmpretrain.registry import DATASETS as CLS_DATASETS
from mmseg.registry import DATASETS as SEG_DATASETS

from .label_subset import select_label_subset
from .utils import DatasetLayoutError, log


def group_kfold_split(groups: Sequence[Hashable],
                      num_splits: int,
                      strata: Optional[Sequence[Hashable]] = None,
                      seed: int = 0) -> np.ndarray:
    """Assign samples to folds so that no group spans two folds.

    Groups are taken largest first (ties in a seeded random order); each goes
    to the fold where it keeps the class proportions most even across folds
    (standard deviation of the per-class shares), ties broken by the
    smallest fold. Without strata it is the smallest fold (balanced sizes).

    Args:
        groups (Sequence[Hashable]): group id of every sample.
        num_splits (int): number of folds.
        strata (Sequence[Hashable], optional): class of every sample (None
            entries allowed).
        seed (int): seed of the tie-breaking order.

    Returns:
        np.ndarray: fold index of every sample.

    Raises:
        DatasetLayoutError: If there are fewer groups than folds.
    """
    members = OrderedDict()
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    if len(members) < num_splits:
        raise DatasetLayoutError(
            f'cannot split {len(members)} groups into {num_splits} folds')
    keys = list(members)
    order = np.random.RandomState(seed).permutation(len(keys))
    order = sorted(order, key=lambda k: -len(members[keys[k]]))
    use_strata = strata is not None and any(s is not None for s in strata)
    labels = sorted({str(s) for s in strata}) if use_strata else ['']
    lab_idx = {lab: j for j, lab in enumerate(labels)}
    totals = np.zeros(len(labels))
    group_counts = {}
    for k in keys:
        c = np.zeros(len(labels))
        for i in members[k]:
            c[lab_idx[str(strata[i])] if use_strata else 0] += 1
        group_counts[k] = c
        totals += c
    counts = np.zeros((num_splits, len(labels)))
    folds = np.empty(len(groups), dtype=np.int64)
    for k in (keys[o] for o in order):
        c = group_counts[k]
        best, best_key = 0, None
        for f in range(num_splits):
            counts[f] += c
            spread = (counts / np.maximum(totals, 1)).std(axis=0).mean() \
                if use_strata else 0.0
            size = counts[f].sum()
            counts[f] -= c
            key = (round(spread, 12), size, f)
            if best_key is None or key < best_key:
                best, best_key = f, key
        counts[best] += c
        folds[members[k]] = best
    return folds


class GroupKFoldDataset:
    """One fold of a grouped k-fold split of a dataset.

    Registered in both the mmpretrain and the mmseg ``DATASETS`` registries.

    Args:
        dataset (dict | BaseDataset): the dataset, or its config (built with
            the registry of ``scope``).
        fold (int): which fold, ``0 <= fold < num_splits``.
        num_splits (int): number of folds.
        seed (int): seed of the split (same seed = same folds for the train
            and test instances).
        test_mode (bool): False → every sample *not* in ``fold`` (training);
            True → the samples of ``fold`` (validation / test).
        scope (str, optional): 'mmseg' or 'mmpretrain' registry for a config
            ``dataset``; default: the current default scope, falling back to
            whichever registry knows the type.
        lazy_init (bool): defer loading / splitting until ``full_init()``.
        label_fraction (float): training side only (``test_mode=False``):
            keep this grouped, class-stratified share of the training
            samples (see :mod:`anaus_mm.datasets.label_subset` for the
            rounding rule); 1.0 keeps all. Ignored in test mode.
        subset_seed (int): seed of the label subset (same seed and split =
            same subset, whatever the model).
    """

    def __init__(self,
                 dataset: Union[BaseDataset, dict],
                 fold: int = 0,
                 num_splits: int = 5,
                 seed: int = 0,
                 test_mode: bool = False,
                 scope: Optional[str] = None,
                 lazy_init: bool = False,
                 label_fraction: float = 1.0,
                 subset_seed: int = 0) -> None:
        if not 0 <= fold < num_splits:
            raise ValueError(f'fold must be in [0, {num_splits}), got {fold}')
        if not 0 < float(label_fraction) <= 1:
            raise ValueError('label_fraction must be in (0, 1], got '
                             f'{label_fraction}')
        if isinstance(dataset, dict):
            dataset = self._build(copy.deepcopy(dataset), scope)
        self.dataset = dataset
        self.fold = fold
        self.num_splits = num_splits
        self.seed = seed
        self.test_mode = test_mode
        self.label_fraction = float(label_fraction)
        self.subset_seed = subset_seed
        self._metainfo = copy.deepcopy(getattr(dataset, 'metainfo', {}))
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @staticmethod
    def _build(cfg, scope):
        registries = OrderedDict(mmseg=SEG_DATASETS, mmpretrain=CLS_DATASETS)
        if scope is None:
            current = DefaultScope.get_current_instance()
            scope = current.scope_name if current else 'mmpretrain'
        first = registries.get(scope, CLS_DATASETS)
        ordered = [first] + [r for r in registries.values() if r is not first]
        type_ = cfg.get('type')
        if isinstance(type_, str):
            for reg in ordered:
                if reg.get(type_) is not None:
                    return reg.build(cfg)
        return first.build(cfg)

    @property
    def metainfo(self) -> dict:
        """The wrapped dataset's meta information (a copy).

        Returns:
            dict: Its ``metainfo``, or ``{}``.
        """
        return copy.deepcopy(self._metainfo)

    def full_init(self) -> None:
        """Load the wrapped dataset, split it and select this fold's samples
        (and the label subset); does nothing the second time."""
        if self._fully_initialized:
            return
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()
        n = len(self.dataset)
        get_group = getattr(self.dataset, 'get_group', None)
        groups, strata = [], []
        for i in range(n):
            info = self.dataset.get_data_info(i) \
                if hasattr(self.dataset, 'get_data_info') else {}
            groups.append(get_group(i) if get_group else
                          info.get('group_id', i))
            strata.append(info.get('gt_label', info.get('stratum')))
        self.folds = group_kfold_split(groups, self.num_splits, strata,
                                       self.seed)
        self.groups = groups
        in_fold = self.folds == self.fold
        self._indices = np.flatnonzero(in_fold if self.test_mode
                                       else ~in_fold).tolist()
        subset = ''
        if not self.test_mode and self.label_fraction < 1:
            full = self._indices
            keep = select_label_subset(
                [groups[i] for i in full],
                [strata[i] for i in full], self.label_fraction,
                self.subset_seed)
            self._indices = [full[k] for k in keep]
            subset = (f', label subset {self.label_fraction:g} (seed '
                      f'{self.subset_seed}): {len(self._indices)} of '
                      f'{len(full)}')
        sizes = Counter(self.folds.tolist())
        log(f'GroupKFoldDataset: fold {self.fold}/{self.num_splits} '
            f'({"test" if self.test_mode else "train"}): '
            f'{len(self._indices)} of {n} samples, {len(set(groups))} '
            f'groups, fold sizes {[sizes[f] for f in range(self.num_splits)]}'
            f'{subset}')
        self._fully_initialized = True

    def _check_init(self):
        if not self._fully_initialized:
            self.full_init()

    @property
    def indices(self) -> List[int]:
        """Indices of this fold's samples in the wrapped dataset.

        Returns:
            List[int]: A copy of the indices.
        """
        self._check_init()
        return list(self._indices)

    def __len__(self) -> int:
        """Number of samples of this side of the fold.

        Returns:
            int: The number of samples.
        """
        self._check_init()
        return len(self._indices)

    def __getitem__(self, idx: int) -> Any:
        """Sample ``idx`` of this fold, through the wrapped dataset.

        Args:
            idx (int): Index within this fold.

        Returns:
            Any: What the wrapped dataset returns (the processed sample).
        """
        self._check_init()
        return self.dataset[self._indices[idx]]

    def get_data_info(self, idx: int) -> dict:
        """Data info of sample ``idx`` of this fold.

        Args:
            idx (int): Index within this fold.

        Returns:
            dict: The wrapped dataset's data info.
        """
        self._check_init()
        return self.dataset.get_data_info(self._indices[idx])

    def get_group(self, idx: int) -> Hashable:
        """Group id of sample ``idx`` of this fold.

        Args:
            idx (int): Index within this fold.

        Returns:
            Hashable: The group id used for the split.
        """
        self._check_init()
        return self.groups[self._indices[idx]]

    def __repr__(self) -> str:
        """Summary of the fold's settings and the wrapped dataset's type.

        Returns:
            str: The representation.
        """
        return (f'{type(self).__name__}(fold={self.fold}, num_splits='
                f'{self.num_splits}, seed={self.seed}, test_mode='
                f'{self.test_mode}, label_fraction={self.label_fraction:g}, '
                f'subset_seed={self.subset_seed}, '
                f'dataset={type(self.dataset).__name__})')


CLS_DATASETS.register_module(module=GroupKFoldDataset)
SEG_DATASETS.register_module(module=GroupKFoldDataset)
