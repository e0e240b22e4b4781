"""select_label_subset (grouped, stratified label subsets) and its use by
GroupKFoldDataset on the training side of a fold."""
from collections import Counter

import numpy as np
import pytest
from mmengine.registry import DefaultScope
from mmpretrain.registry import DATASETS as CLS
from mmseg.registry import DATASETS as SEG

from anaus_mm.datasets.label_subset import select_label_subset


def _one_sample_groups():
    labels = ['a'] * 37 + ['b'] * 13 + ['c'] * 50
    perm = np.random.RandomState(3).permutation(100)
    labels = [labels[i] for i in perm]
    return [f'p{i}' for i in range(100)], labels


@pytest.mark.parametrize('fraction', [0.05, 0.1, 0.25, 0.5, 0.9])
def test_stratified_within_half_a_sample(fraction):
    groups, labels = _one_sample_groups()
    keep = select_label_subset(groups, labels, fraction, seed=1)
    assert keep == sorted(keep) and len(set(keep)) == len(keep)
    got = Counter(labels[i] for i in keep)
    for cls, total in Counter(labels).items():
        target = fraction * total
        # rounding rule: max(1, ceil(f * s - 0.5))
        assert got[cls] == max(1, int(np.ceil(target - 0.5)))
        assert abs(got[cls] - target) <= 0.5 or got[cls] == 1


def test_deterministic_per_seed_and_nested():
    groups, labels = _one_sample_groups()
    a = select_label_subset(groups, labels, 0.25, seed=4)
    assert a == select_label_subset(list(groups), list(labels), 0.25, 4)
    assert a != select_label_subset(groups, labels, 0.25, seed=5)
    small = select_label_subset(groups, labels, 0.1, seed=4)
    assert set(small) < set(a)  # same seed: 10 % inside 25 %
    assert select_label_subset(groups, labels, 1.0, 9) == list(range(100))


def test_whole_groups_and_bigger_groups():
    rng = np.random.RandomState(0)
    groups = rng.randint(0, 30, size=240).tolist()  # 1..~15 frames/video
    labels = [g % 2 for g in groups]  # one label per video
    keep = set(select_label_subset(groups, labels, 0.3, seed=2))
    kept_groups = {groups[i] for i in keep}
    for i, g in enumerate(groups):  # a video is in or out, never split
        assert (i in keep) == (g in kept_groups)
    size = Counter(groups)
    for cls in (0, 1):
        total = sum(1 for x in labels if x == cls)
        got = sum(1 for i in keep if labels[i] == cls)
        biggest = max(n for g, n in size.items() if g % 2 == cls)
        assert abs(got - 0.3 * total) <= biggest / 2


def test_at_least_one_group_per_class_and_unlabelled():
    groups = list(range(20))
    labels = [0] * 18 + [1, 2]
    keep = select_label_subset(groups, labels, 0.01, seed=0)
    assert Counter(labels[i] for i in keep) == {0: 1, 1: 1, 2: 1}
    # segmentation: no labels, one stratum
    keep = select_label_subset(groups, None, 0.25, seed=0)
    assert len(keep) == 5
    with pytest.raises(ValueError, match=r'in \(0, 1\]'):
        select_label_subset(groups, None, 0.0)
    with pytest.raises(ValueError, match='20 groups but 2 labels'):
        select_label_subset(groups, [0, 1], 0.5)


def test_group_kfold_train_subset_on_simulated(sim_data_dir):
    inner = dict(type='SimulatedUSClsDataset', data_root=sim_data_dir)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        for fold in range(2):
            full = CLS.build(dict(type='GroupKFoldDataset', dataset=inner,
                                  fold=fold, num_splits=2))
            sub = CLS.build(dict(type='GroupKFoldDataset', dataset=inner,
                                 fold=fold, num_splits=2,
                                 label_fraction=0.5, subset_seed=3))
            test = CLS.build(dict(type='GroupKFoldDataset', dataset=inner,
                                  fold=fold, num_splits=2, test_mode=True,
                                  label_fraction=0.5, subset_seed=3))
            assert len(full) == 4 and len(test) == 4  # test fold whole
            assert set(sub.indices) < set(full.indices)
            assert not set(sub.indices) & set(test.indices)
            labels = [sub.get_data_info(i)['gt_label']
                      for i in range(len(sub))]
            assert sorted(labels) == [0, 1]  # one of each class
            # same subset whatever else the config says (any method)
            again = CLS.build(dict(type='GroupKFoldDataset', fold=fold,
                                   num_splits=2, label_fraction=0.5,
                                   subset_seed=3, dataset=dict(
                                       inner, pipeline=[
                                           dict(type='LoadImageFromFile')])))
            assert again.indices == sub.indices
    with DefaultScope.overwrite_default_scope('mmseg'):
        seg = SEG.build(dict(
            type='GroupKFoldDataset', fold=0, num_splits=2,
            label_fraction=0.5, subset_seed=3,
            dataset=dict(type='SimulatedUSDataset', data_root=sim_data_dir,
                         task='lesion')))
    assert len(seg) == 2
    assert 'label_fraction=0.5' in repr(seg)
