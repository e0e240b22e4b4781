"""Frozen-backbone anatomy probes on the tiny simulated set (8 images,
128 px): planted features are separated, constant features are at chance,
the dense label rule, a real ResNet-18 and the command line."""
import json
import os
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from anaus_mm.evaluation.anatomy_probe import (DEFAULT_MEAN, DEFAULT_STD,
                                               dense_samples,
                                               probe_markdown_row,
                                               run_anatomy_probe)

NUM_IDS = 7
STEP = 40  # gray level per anatomy id in the planted images
CLI = 'tools/analysis_tools/anatomy_probe.py'


class MaskBackbone(nn.Module):
    """Features that encode the anatomy: the image's gray level is
    ``STEP * id``; every level is the average-pooled one-hot of the ids
    (strides 4, 8, 16, 32)."""

    def forward(self, x):
        gray = x[:, 0] * DEFAULT_STD[0] + DEFAULT_MEAN[0]
        ids = torch.round(gray / STEP).long().clamp(0, NUM_IDS - 1)
        onehot = F.one_hot(ids, NUM_IDS).permute(0, 3, 1, 2).float()
        return tuple(F.avg_pool2d(onehot, s) for s in (4, 8, 16, 32))


class ConstantBackbone(nn.Module):
    """The same features for every pixel of every image."""

    def forward(self, x):
        b, _, h, w = x.shape
        return tuple(torch.ones(b, 8, h // s, w // s) for s in (4, 8, 16, 32))


@pytest.fixture(scope='module')
def planted(sim_data_dir, tmp_path_factory):
    """The simulated set with each image replaced by STEP * its mask."""
    root = tmp_path_factory.mktemp('planted') / 'data'
    shutil.copytree(sim_data_dir, root)
    for name in os.listdir(root / 'masks'):
        mask = cv2.imread(str(root / 'masks' / name), cv2.IMREAD_UNCHANGED)
        cv2.imwrite(str(root / 'images' / name),
                    (mask.astype(np.uint8) * STEP))
    return str(root)


def test_planted_features_are_separated(planted):
    res = run_anatomy_probe(None, planted, model=MaskBackbone(), folds=4)
    roi, dense = res['roi'], res['dense']
    assert roi['balanced_accuracy'] >= 99.0, roi
    assert dense['balanced_accuracy'] >= 99.0, dense
    assert roi['n_images'] == 8 and roi['n_samples'] >= 8 * 5
    # fascia lines (~1 mm) never own a stride-8 cell: no dense samples
    assert dense['support']['fascia'] == 0
    assert dense['recall']['fascia'] is None
    assert dense['support']['parenchyma'] > 0 and \
        dense['support']['lesion'] > 0
    json.dumps(res)  # JSON-able
    row = probe_markdown_row('planted', res, list(dense['recall']))
    assert row.startswith('| planted | 100.0') and '| – |' in row


def test_constant_features_are_at_chance(planted):
    res = run_anatomy_probe(None, planted, model=ConstantBackbone(),
                            folds=4)
    for kind in ('roi', 'dense'):
        part = res[kind]
        assert part['balanced_accuracy'] == pytest.approx(part['chance'],
                                                          abs=1e-6), part
        assert part['balanced_accuracy'] < 25


def test_dense_label_rule():
    """Majority id with >= min_purity of the cell, never background."""
    mask = np.zeros((1, 16, 16), np.uint8)
    mask[0, :8, :8] = 3            # cell (0, 0): pure parenchyma
    mask[0, :8, 8:] = 3            # cell (0, 1): 40 of 64 muscle -> muscle
    mask[0, :5, 8:] = 4
    mask[0, :8, 8:13] = 4
    mask[0, 8:, :8] = 0            # cell (1, 0): background -> ignored
    mask[0, 8:, 8:] = 1            # cell (1, 1): 3 ids, none >= 0.5
    mask[0, 8:11, 8:] = 5
    mask[0, 11:14, 8:] = 6
    feats = [torch.arange(4.).view(1, 1, 2, 2)]
    x, y, g = dense_samples(feats, mask, NUM_IDS, stride=8, min_purity=0.5,
                            mode='single')
    share = (mask[0, :8, 8:] == 4).mean()
    assert share >= 0.5
    assert y.tolist() == [3, 4] and x[:, 0].tolist() == [0.0, 1.0]
    assert g.tolist() == [0, 0]


def test_resnet18_random_init(sim_data_dir):
    """A real ResNet-18 (random init) runs end to end, deterministic."""
    a = run_anatomy_probe(None, sim_data_dir, folds=2, kinds=['roi'])
    b = run_anatomy_probe(None, sim_data_dir, folds=2, kinds=['roi'])
    assert a['roi']['balanced_accuracy'] == b['roi']['balanced_accuracy']
    assert a['roi']['dim'] == 64 + 128 + 256 + 512
    assert a['settings']['levels'][1] == [128, 16, 16]


def test_cli(sim_data_dir, tmp_path, run_tool):
    out = tmp_path / 'probe.json'
    res = run_tool([CLI, sim_data_dir, '--methods', 'random=none',
                    '--folds', '2', '--kinds', 'roi', '--out', str(out)])
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[0].startswith('| method | ROI bal. acc.')
    assert '| random |' in res.stdout
    data = json.loads(out.read_text())
    assert set(data) == {'random'} and 'roi' in data['random']
    res = run_tool([CLI, sim_data_dir, '--methods', 'x=missing.pth'])
    assert res.returncode == 2 and 'not found' in res.stderr
    assert 'Traceback' not in res.stderr
    res = run_tool([CLI, str(tmp_path / 'nothing')])
    assert res.returncode == 2 and 'not found' in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert osp.isfile(out)
