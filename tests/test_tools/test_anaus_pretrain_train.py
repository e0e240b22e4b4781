"""ANAUS through tools/train.py: 3 iterations, exact resume, backbone export.
"""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

CFG = '''
_base_ = {base!r}
img_size = 32
train_pipeline = [
    dict(type='LoadImageFromFile', color_type='color'),
    dict(type='LoadAnatomyMask'),
    dict(type='AnatomyPairedViews', size=img_size),
    dict(type='PackInputs',
         algorithm_keys=['view_masks', 'crop_boxes', 'flips', 'core_box',
                         'core_valid'],
         meta_keys=['img_path']),
]
train_dataloader = dict(
    batch_size=4,
    dataset=dict(_delete_=True, type='BaseDataset', ann_file={ann!r},
                 pipeline=train_pipeline))
model = dict(neck=dict(out_channels=16),
             projector=dict(in_channels=16, hid_channels=32, out_channels=16),
             head=dict(predictor=dict(in_channels=16, hid_channels=32,
                                      out_channels=16)),
             num_rois=4)
train_cfg = dict(max_iters=3)
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval=1, max_keep_ckpts=3))
log_processor = dict(window_size=1)
randomness = dict(seed=0, deterministic=True)
'''


@pytest.fixture(scope='module')
def tiny_config(tmp_path_factory, repo_root):
    root = tmp_path_factory.mktemp('anaus_data')
    rng = np.random.RandomState(0)
    data_list = []
    for i in range(8):
        img = (rng.rand(48, 56) * 255).astype(np.uint8)
        mask = np.zeros((48, 56), np.uint8)
        mask[10:30, 5 + i:40] = 1
        mask[32:, :20] = 2
        if i == 0:
            mask[:] = 0  # a background-only image must still train
        cv2.imwrite(str(root / f'{i}.png'), img)
        cv2.imwrite(str(root / f'{i}_mask.png'), mask)
        data_list.append(dict(img_path=str(root / f'{i}.png'),
                              mask_path=str(root / f'{i}_mask.png')))
    ann = root / 'ann.json'
    ann.write_text(json.dumps(dict(metainfo={}, data_list=data_list)))
    cfg = root / 'anaus_tiny.py'
    base = osp.join(repo_root,
                    'configs/anaus/anaus_resnet18_1xb4-30it_sim-demo.py')
    cfg.write_text(CFG.format(base=base, ann=str(ann)))
    return str(cfg)


def _losses(work_dir):
    runs = sorted(d for d in os.listdir(work_dir)
                  if osp.isdir(osp.join(work_dir, d)))
    path = osp.join(work_dir, runs[-1], 'vis_data', 'scalars.json')
    with open(path) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return {r['iter']: {k: v for k, v in r.items() if k.startswith('loss')}
            for r in rows if 'iter' in r}


def test_train_resume_and_export(tiny_config, run_tool, tmp_path, repo_root):
    full = str(tmp_path / 'full')
    res = run_tool(['tools/train.py', tiny_config, '--work-dir', full])
    assert res.returncode == 0, res.stderr[-3000:]
    losses = _losses(full)
    assert sorted(losses) == [1, 2, 3]
    terms = [f'loss_{t}_s{s}' for s in range(4) for t in ('align', 'core')]
    assert all(k in losses[3] for k in terms)
    assert all(np.isfinite(v) for v in losses[3].values())

    resumed = str(tmp_path / 'resumed')
    res = run_tool(['tools/train.py', tiny_config, '--work-dir', resumed,
                    '--resume', osp.join(full, 'iter_2.pth')])
    assert res.returncode == 0, res.stderr[-3000:]
    again = _losses(resumed)
    assert list(again) == [3]
    assert again[3] == losses[3]  # exact

    # export the online backbone and load it into a ResNet-18 both ways
    out = str(tmp_path / 'backbone.pth')
    res = run_tool(['tools/model_converters/extract_backbone.py',
                    osp.join(full, 'iter_3.pth'), out])
    assert res.returncode == 0, res.stderr[-3000:]
    ckpt = torch.load(out, map_location='cpu', weights_only=True)
    assert set(ckpt) >= {'state_dict'}
    keys = list(ckpt['state_dict'])
    assert 'conv1.weight' in keys
    assert not any(k.startswith(('backbone.', 'target_net', 'neck'))
                   for k in keys)
    raw = torch.load(osp.join(full, 'iter_3.pth'), map_location='cpu',
                     weights_only=False)['state_dict']

    from mmpretrain.registry import MODELS
    for checkpoint, prefix in ((out, None), (osp.join(full, 'iter_3.pth'),
                                             'backbone.')):
        init = dict(type='Pretrained', checkpoint=checkpoint)
        if prefix:
            init['prefix'] = prefix
        net = MODELS.build(dict(type='ResNet', depth=18, init_cfg=init))
        net.init_weights()
        assert torch.equal(net.conv1.weight, raw['backbone.conv1.weight'])
        assert torch.equal(net.layer4[1].bn2.running_var,
                           raw['backbone.layer4.1.bn2.running_var'])

    res = run_tool(['tools/model_converters/extract_backbone.py',
                    str(tmp_path / 'nope.pth'), out])
    assert res.returncode == 2 and 'not found' in res.stderr
    assert res.stderr.count('\n') == 1


def _scalars(work_dir):
    runs = sorted(d for d in os.listdir(work_dir)
                  if osp.isdir(osp.join(work_dir, d)))
    path = osp.join(work_dir, runs[-1], 'vis_data', 'scalars.json')
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def test_budget_other_than_the_config_keeps_the_schedule_shape(
        tiny_config, run_tool, tmp_path):
    """--max-iters 10 --batch-size 2 on a config written for 3 iterations
    with the demo's warm-up + cosine (written for 30): the logged cosine
    reaches its minimum at the last iteration, the peak LR follows the
    batch, and the loader never restarts."""
    cfg = tmp_path / 'budget.py'
    cfg.write_text(f"_base_ = {tiny_config!r}\n" + '''
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=5),
    dict(type='CosineAnnealingLR', T_max=25, by_epoch=False, begin=5,
         end=30),
]
train_cfg = dict(max_iters=30)
train_dataloader = dict(sampler=dict(_delete_=True, type='DefaultSampler',
                                     shuffle=True))
default_hooks = dict(checkpoint=dict(interval=30, max_keep_ckpts=1))
''')
    work = str(tmp_path / 'work')
    res = run_tool(['tools/train.py', str(cfg), '--work-dir', work,
                    '--max-iters', '10', '--batch-size', '2',
                    '--auto-scale-lr'])
    assert res.returncode == 0, res.stderr[-3000:]
    rows = {r['iter']: r for r in _scalars(work) if 'lr' in r}
    assert sorted(rows) == list(range(1, 11))
    lrs = [rows[i]['lr'] for i in range(1, 11)]
    peak = max(lrs)
    # the demo's LR 0.01875 is set for batch 4: batch 2 halves it
    assert peak == pytest.approx(0.01875 / 2, rel=1e-4)
    after = lrs[lrs.index(peak):]
    assert after.index(min(after)) == len(after) - 1  # minimum at the end
    assert all(a >= b for a, b in zip(after, after[1:]))  # never rises
    assert after[-2] > after[-1]  # still falling at the last iteration
    assert lrs[-1] < 0.1 * peak
    log = open(next(osp.join(dp, f) for dp, _, fs in os.walk(work)
                    for f in fs if f.endswith('.log'))).read()
    assert 'Reach the end of the dataloader' not in log
    assert os.path.isfile(osp.join(work, 'iter_10.pth'))
