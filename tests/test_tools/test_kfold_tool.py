"""Grouped k-fold train + test and summaries (anaus_mm.benchmark.kfold,
tools/kfold.py) and tools/analysis_tools/browse_dataset.py on fixture
data."""
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from fixtures import fake_layouts as F

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _kfold(cfg_path, work_dir, **kwargs):
    from anaus_mm.benchmark.kfold import run_kfold
    cfg = Config.fromfile(str(cfg_path))
    return run_kfold(cfg, work_dir, str(cfg_path), **kwargs)


@pytest.fixture(scope='module', autouse=True)
def cheap_cpu_runs():
    """One torch thread and no yapf config pretty-printing (see
    test_benchmark_configs.py); restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    mp = pytest.MonkeyPatch()
    mp.setattr(Config, 'pretty_text', property(lambda self: self.text))
    yield
    mp.undo()
    torch.set_num_threads(threads)


TINY = """
_base_ = [{base!r}]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadMergedAnnotations'),
    dict(type='RandomCrop', crop_size=(32, 32)),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadMergedAnnotations'),
    dict(type='PackSegInputs')
]
model = dict(
    data_preprocessor=dict(size=(32, 32)),
    decode_head=dict(channels=16), auxiliary_head=dict(channels=16))
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(dataset=dict(data_root={root!r}, pipeline=train_pipeline,
                              serialize_data=False)))
val_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(dataset=dict(data_root={root!r}, pipeline=test_pipeline,
                              serialize_data=False)))
test_dataloader = val_dataloader
train_cfg = dict(max_iters=2, val_interval=2)
param_scheduler = []
default_hooks = dict(checkpoint=None, logger=dict(interval=1))
"""


def test_kfold_three_splits_summary_and_resume(tmp_path):
    root = F.make_udiat(str(tmp_path / 'data'), n=6)
    cfg_path = tmp_path / 'tiny_udiat.py'
    cfg_path.write_text(TINY.format(
        base=osp.join(REPO, 'configs/benchmarks/seg_upernet_r18_udiat.py'),
        root=osp.join(root, 'DatasetB')))
    work = str(tmp_path / 'work')
    _kfold(cfg_path, work, num_splits=3)
    with open(osp.join(work, 'kfold_summary.json')) as f:
        summary = json.load(f)
    assert summary['folds_done'] == [0, 1, 2]
    for key in ('fgDice', 'fgSensitivity', 'mDice', 'Dice.lesion'):
        values = [summary['per_fold'][str(i)][key] for i in range(3)]
        assert all(0 <= v <= 100 for v in values)
        assert summary['mean'][key] == pytest.approx(np.mean(values),
                                                     abs=1e-3)
        assert summary['std'][key] == pytest.approx(np.std(values, ddof=1),
                                                    abs=1e-3)
    md = open(osp.join(work, 'kfold_summary.md')).read()
    assert '| mean ± std |' in md and md.count('\n| ') == 5  # header+3+mean
    metrics = osp.join(work, 'fold_1', 'metrics.json')
    mtime = os.path.getmtime(metrics)
    _kfold(cfg_path, work, num_splits=3, resume=True)
    assert os.path.getmtime(metrics) == mtime  # nothing retrained
    assert json.load(open(osp.join(work, 'kfold_summary.json')))[
        'folds_done'] == [0, 1, 2]


def test_set_fold_wraps_plain_datasets():
    from anaus_mm.benchmark.kfold import set_fold
    cfg = Config(dict(
        train_dataloader=dict(dataset=dict(type='DDTIDataset')),
        val_dataloader=dict(dataset=dict(type='GroupKFoldDataset', fold=0,
                                         num_splits=5, test_mode=True,
                                         dataset=dict(type='DDTIDataset'))),
        test_dataloader=None))
    set_fold(cfg, 2, 3, 7)
    train = cfg.train_dataloader.dataset
    assert (train.type, train.fold, train.num_splits, train.seed,
            train.test_mode) == ('GroupKFoldDataset', 2, 3, 7, False)
    assert train.dataset.type == 'DDTIDataset'
    val = cfg.val_dataloader.dataset
    assert (val.fold, val.num_splits, val.test_mode) == (2, 3, True)


def test_kfold_cli_rejects_bad_fold(run_tool, tmp_path):
    res = run_tool(['tools/kfold.py',
                    'configs/benchmarks/seg_upernet_r18_busi.py',
                    '--num-splits', '3', '--fold', '3', '--work-dir',
                    str(tmp_path)])
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        'kfold.py: error: --fold must be in [0, 3), got 3']


def test_browse_dataset_seg_and_cls(tmp_path, run_tool):
    def browse(args):
        res = run_tool(['tools/analysis_tools/browse_dataset.py'] + args)
        assert res.returncode == 0, res.stderr[-3000:]
    busi = F.make_busi(str(tmp_path / 'busi'), n=2)
    out = tmp_path / 'vis'
    browse([osp.join(REPO, 'configs/benchmarks/seg_upernet_r18_busi.py'),
                 '--output-dir', str(out), '--num', '3', '--phase', 'val',
                 '--cfg-options',
                 f'val_dataloader.dataset.dataset.data_root={busi}'])
    files = sorted(os.listdir(out))
    assert files == ['0000_benign (1).png', '0001_benign (2).png',
                     '0002_malignant (1).png']
    vis = np.asarray(Image.open(out / files[0]))
    assert vis.shape[1] == 2 * vis.shape[0]  # image | overlay
    left, right = vis[:, :vis.shape[1] // 2], vis[:, vis.shape[1] // 2:]
    redder = right[..., 0].astype(int) - right[..., 2]
    assert (redder > 60).mean() > 0.02  # the lesion colour is drawn
    assert not (left[..., 0].astype(int) - left[..., 2] > 60).any()
    pocus = F.make_pocus(str(tmp_path / 'pocus'), n_videos=1, frames=2)
    out2 = tmp_path / 'vis_cls'
    browse([osp.join(REPO, 'configs/benchmarks/cls_r18_ft_pocus.py'),
                 '--output-dir', str(out2), '--num', '2', '--phase', 'test',
                 '--cfg-options',
                 f'test_dataloader.dataset.dataset.data_root={pocus}'])
    assert len(os.listdir(out2)) == 2


def test_kfold_single_fold_with_pretrained_backbone(tmp_path):
    import glob
    from mmpretrain.models import ResNet
    from anaus_mm.utils.cli import CLIError
    root = F.make_udiat(str(tmp_path / 'data'), n=4)
    cfg_path = tmp_path / 'tiny_udiat.py'
    cfg_path.write_text(TINY.format(
        base=osp.join(REPO, 'configs/benchmarks/seg_upernet_r18_udiat.py'),
        root=osp.join(root, 'DatasetB')))
    ckpt = str(tmp_path / 'anaus_backbone.pth')
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in
                                ResNet(depth=18).state_dict().items()}), ckpt)
    work = str(tmp_path / 'work')
    _kfold(cfg_path, work, num_splits=2, folds=[1], pretrained=ckpt)
    assert sorted(os.listdir(work)) == ['fold_1', 'kfold_summary.json',
                                        'kfold_summary.md']
    summary = json.load(open(osp.join(work, 'kfold_summary.json')))
    assert summary['folds_done'] == [1] and summary['std']['fgDice'] == 0
    logs = glob.glob(osp.join(work, 'fold_1', '*', '*.log'))
    assert any(f'load backbone. in model from: {ckpt}' in open(p).read()
               for p in logs)
    with pytest.raises(CLIError, match='--pretrained checkpoint not found'):
        _kfold(cfg_path, work, num_splits=2, folds=[0],
               pretrained=str(tmp_path / 'no.pth'))


def test_kfold_reports_bad_data_as_one_error(tmp_path):
    from anaus_mm.datasets import DatasetLayoutError
    cfg_path = tmp_path / 'tiny_udiat.py'
    missing = str(tmp_path / 'no_such_folder')
    cfg_path.write_text(TINY.format(
        base=osp.join(REPO, 'configs/benchmarks/seg_upernet_r18_udiat.py'),
        root=missing))
    with pytest.raises(DatasetLayoutError,
                       match='data_root folder not found: ' + missing) as e:
        _kfold(cfg_path, str(tmp_path / 'work'), num_splits=2, folds=[0])
    assert '\n' not in str(e.value)


def test_iteration_budget_never_restarts_the_loader(tmp_path):
    """A fold of 3 training images at batch 2 trains 5 iterations: with an
    epoch sampler mmengine would restart the loader (and sleep 2 s) twice."""
    import glob
    root = F.make_udiat(str(tmp_path / 'data'), n=4)
    cfg_path = tmp_path / 'tiny_udiat.py'
    cfg_path.write_text(TINY.format(
        base=osp.join(REPO, 'configs/benchmarks/seg_upernet_r18_udiat.py'),
        root=osp.join(root, 'DatasetB')))
    work = str(tmp_path / 'work')
    _kfold(cfg_path, work, num_splits=4, folds=[0], iters=5,
           no_checkpoints=True)
    info = json.load(open(osp.join(work, 'fold_0', 'run_info.json')))
    assert info['iters'] == 5 and info['num_train'] == 3
    logs = glob.glob(osp.join(work, 'fold_0', '**', '*.log'), recursive=True)
    log = open(logs[0]).read()
    assert 'Reach the end of the dataloader' not in log
