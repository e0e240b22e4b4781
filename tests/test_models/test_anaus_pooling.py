"""Majority-vote mask pooling, id sampling and ROI pooling of ANAUS."""
import pytest
import torch

from anaus_mm.models.utils.anatomy_pooling import (majority_vote_downsample,
                                                   roi_pool,
                                                   sample_anatomy_ids)


def test_majority_vote_known_label_map():
    m = torch.zeros(1, 4, 4, dtype=torch.long)
    m[0, :2, :2] = torch.tensor([[1, 1], [1, 0]])  # top-left: 1 wins 3:1
    m[0, :2, 2:] = torch.tensor([[2, 2], [0, 0]])  # tie 2:2 -> smaller id 0
    m[0, 2:, :2] = 3
    m[0, 2:, 2:] = torch.tensor([[1, 2], [2, 2]])  # 2 wins
    out = majority_vote_downsample(m, (2, 2))
    assert out.tolist() == [[[1, 0], [3, 2]]]
    # identity at full size
    assert torch.equal(majority_vote_downsample(m, (4, 4)), m)


def test_area_weighted_sampling_frequencies():
    torch.manual_seed(0)
    m = torch.zeros(1, 10, 10, dtype=torch.long)
    m[0, :, :2] = 1   # 20 %
    m[0, :, 2:3] = 3  # 10 %, id 2 absent
    ids, counts = sample_anatomy_ids(m.expand(2000, -1, -1), 16, 'area')
    freq = torch.bincount(ids.flatten(), minlength=4).float() / ids.numel()
    assert freq[2] == 0
    assert freq.tolist() == pytest.approx([0.7, 0.2, 0., 0.1], abs=0.01)
    # counts = multiplicity of each ROI's id within its image
    row = ids[0]
    assert counts[0].tolist() == [int((row == v).sum()) for v in row]


def test_uniform_sampling_frequencies():
    torch.manual_seed(0)
    m = torch.zeros(1, 10, 10, dtype=torch.long)
    m[0, :, :2] = 1
    m[0, :, 2:3] = 3
    ids, _ = sample_anatomy_ids(m.expand(2000, -1, -1), 16, 'uniform')
    freq = torch.bincount(ids.flatten(), minlength=4).float() / ids.numel()
    assert freq.tolist() == pytest.approx([1 / 3, 1 / 3, 0., 1 / 3],
                                          abs=0.01)
    with pytest.raises(ValueError, match='area'):
        sample_anatomy_ids(m, 4, 'bogus')


def test_roi_pool_means_and_absent_ids():
    feats = torch.arange(8.).view(1, 2, 2, 2)  # ch0: 0..3, ch1: 4..7
    masks = torch.tensor([[[0, 1], [1, 1]]])
    ids = torch.tensor([[1, 0, 5]])
    pooled, valid = roi_pool(feats, masks, ids)
    assert pooled[0, 0].tolist() == pytest.approx([2., 6.])
    assert pooled[0, 1].tolist() == pytest.approx([0., 4.])
    assert valid.tolist() == [[True, True, False]]
    assert pooled[0, 2].abs().sum() == 0


def test_majority_vote_pyramid_equals_one_vote_per_grid():
    from anaus_mm.models.utils.anatomy_pooling import majority_vote_pyramid
    torch.manual_seed(0)
    m = torch.randint(0, 5, (3, 64, 64))
    m[:, 16:40, 8:50] = 2  # large regions, so the votes are not all ties
    sizes = [(16, 16), (8, 8), (4, 4), (2, 2), (5, 5)]  # 5 does not divide
    out = majority_vote_pyramid(m, sizes, 5)
    for grid, size in zip(out, sizes):
        assert torch.equal(grid, majority_vote_downsample(m, size, 5)), size


def test_compact_ids_renumbers_without_changing_the_partition():
    from anaus_mm.models.utils.anatomy_pooling import compact_ids
    m = torch.tensor([[[0, 7, 7], [200, 200, 0]]])
    ids = torch.tensor([[7, 200, 0, 7]])
    cm, cids, n = compact_ids(m, ids)
    assert n == 3
    assert cm.tolist() == [[[0, 1, 1], [2, 2, 0]]]
    assert cids.tolist() == [[1, 2, 0, 1]]
