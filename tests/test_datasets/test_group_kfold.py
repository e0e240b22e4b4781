"""Grouped, stratified k-fold splitting and the GroupKFoldDataset wrapper."""
from collections import Counter

import numpy as np
import pytest
from mmengine.registry import DefaultScope
from mmpretrain.registry import DATASETS as CLS
from mmseg.registry import DATASETS as SEG

from anaus_mm.datasets import GroupKFoldDataset, group_kfold_split
from anaus_mm.datasets.utils import DatasetLayoutError

from fixtures import fake_layouts as F


def test_split_keeps_groups_and_covers_every_sample():
    rng = np.random.RandomState(0)
    groups = rng.randint(0, 40, size=300).tolist()  # uneven group sizes
    strata = [g % 3 for g in groups]
    folds = group_kfold_split(groups, 5, strata, seed=1)
    assert folds.shape == (300, ) and set(folds.tolist()) == set(range(5))
    for g in set(groups):  # no group in two folds
        assert len({folds[i] for i in range(300) if groups[i] == g}) == 1
    sizes = np.bincount(folds)
    assert sizes.min() > 0.6 * 300 / 5
    # stratified: every class in every fold
    for f in range(5):
        assert set(np.asarray(strata)[folds == f].tolist()) == {0, 1, 2}
    # deterministic given the seed
    np.testing.assert_array_equal(folds, group_kfold_split(groups, 5,
                                                           strata, seed=1))


def test_split_balances_classes_better_than_chance():
    groups = list(range(100))
    strata = [0] * 80 + [1] * 20
    folds = group_kfold_split(groups, 5, strata, seed=0)
    for f in range(5):
        assert Counter(np.asarray(strata)[folds == f].tolist()) == \
            {0: 16, 1: 4}


def test_too_few_groups():
    with pytest.raises(DatasetLayoutError, match='3 groups into 5 folds'):
        group_kfold_split([0, 0, 1, 2], 5)


def test_wrapper_on_pocus_videos(tmp_path):
    root = F.make_pocus(str(tmp_path), n_videos=3, frames=2)
    inner = dict(type='POCUSDataset', data_root=root)
    seen = []
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        for fold in range(3):
            train = CLS.build(dict(type='GroupKFoldDataset', dataset=inner,
                                   fold=fold, num_splits=3))
            test = CLS.build(dict(type='GroupKFoldDataset', dataset=inner,
                                  fold=fold, num_splits=3, test_mode=True))
            tr, te = set(train.indices), set(test.indices)
            assert not tr & te and len(tr | te) == 18
            assert not {train.get_group(i) for i in range(len(train))} & \
                {test.get_group(i) for i in range(len(test))}
            labels = {test.get_data_info(i)['gt_label']
                      for i in range(len(test))}
            assert labels == {0, 1, 2}  # stratified by class
            seen += test.indices
            assert test.metainfo['classes'] == ('covid', 'pneumonia',
                                                'regular')
    assert sorted(seen) == list(range(18))  # each sample tested once


def test_wrapper_in_seg_registry_and_items(tmp_path):
    root = F.make_ddti(str(tmp_path), n_cases=4, per_case=2)
    assert SEG.get('GroupKFoldDataset') is GroupKFoldDataset
    assert CLS.get('GroupKFoldDataset') is GroupKFoldDataset
    with DefaultScope.overwrite_default_scope('mmseg'):
        ds = SEG.build(dict(
            type='GroupKFoldDataset', fold=1, num_splits=2, test_mode=True,
            dataset=dict(type='DDTIDataset', data_root=root,
                         pipeline=[dict(type='LoadMergedAnnotations')])))
    assert len(ds) == 4
    assert {ds.get_group(i) for i in range(4)} in ({'1', '3'}, {'2', '4'},
                                                   {'1', '2'}, {'3', '4'},
                                                   {'1', '4'}, {'2', '3'})
    assert ds[0]['gt_seg_map'].shape == (32, 32)
    with pytest.raises(ValueError, match='fold must be in'):
        GroupKFoldDataset(dict(type='DDTIDataset', data_root=root), fold=2,
                          num_splits=2)
