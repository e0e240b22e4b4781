"""LP-SAM through the tools: tiny stage-1 / stage-2 training with
``tools/train.py`` and ``tools/generate_anatomy_masks.py`` on a folder of
mixed image formats (including a truncated file)."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

STAGE1 = 'configs/lpsam/lpsam_tiny_stage1_demo.py'
STAGE2 = 'configs/lpsam/lpsam_tiny_stage2_demo.py'


def make_seg_data(root, n=4, size=80):
    """images/*.png (grey) + masks/*.png (ids 0..6), simulator layout."""
    rng = np.random.default_rng(0)
    os.makedirs(osp.join(root, 'images'))
    os.makedirs(osp.join(root, 'masks'))
    for i in range(n):
        m = np.zeros((size, size), np.uint8)
        m[size // 8:size // 3] = 1
        m[size // 3:size // 3 + 3] = 2
        m[size // 3 + 3:] = 3
        cy, cx = rng.integers(size // 2, size - size // 6, 2)
        cv2.circle(m, (int(cx), int(cy)), size // 8, 6, -1)
        img = np.clip(m * 30.0 + rng.normal(0, 10, m.shape), 0, 255)
        cv2.imwrite(osp.join(root, 'images', f's{i}.png'),
                    img.astype(np.uint8))
        cv2.imwrite(osp.join(root, 'masks', f's{i}.png'), m)


def data_opts(root, iters=2):
    return ['--cfg-options', f'train_dataloader.dataset.data_root={root}',
            f'val_dataloader.dataset.data_root={root}',
            f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
            f'default_hooks.checkpoint.interval={iters}']


def test_two_stage_training(tmp_path, run_tool):
    data = str(tmp_path / 'data')
    make_seg_data(data)
    w1, w2 = str(tmp_path / 'stage1'), str(tmp_path / 'stage2')
    r = run_tool(['tools/train.py', STAGE1, '--work-dir', w1] +
                 data_opts(data))
    assert r.returncode == 0, r.stderr[-3000:]
    assert osp.isfile(osp.join(w1, 'iter_2.pth'))
    assert osp.isfile(osp.join(w1, 'best_mDice_iter_2.pth'))
    r = run_tool(['tools/train.py', STAGE2, '--work-dir', w2] +
                 data_opts(data) + [f'model.stage1_checkpoint={w1}'])
    log = r.stdout + r.stderr
    assert r.returncode == 0, log[-3000:]
    assert 'loaded stage-1 weights from' in log
    assert 'best_mDice_iter_2.pth' in log
    assert osp.isfile(osp.join(w2, 'iter_2.pth'))
    s1 = torch.load(osp.join(w1, 'iter_2.pth'), map_location='cpu',
                    weights_only=False)['state_dict']
    s2 = torch.load(osp.join(w2, 'iter_2.pth'), map_location='cpu',
                    weights_only=False)['state_dict']
    # stage 2 kept the (frozen) stage-1 encoder and adapters
    key = 'adapters.mlp_adapters.0.up.weight'
    assert torch.equal(s1[key], s2[key])
    assert any(k.startswith('prompt_engine.') for k in s2)
    assert not any(k.startswith('prompt_engine.') for k in s1)


@pytest.fixture
def stage2_checkpoint(tmp_path):
    import anaus_mm  # noqa: F401
    from mmengine.config import Config
    from mmseg.registry import MODELS
    cfg = Config.fromfile(STAGE2)
    cfg.model.stage1_checkpoint = None
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    path = str(tmp_path / 'stage2.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return path


def write_inputs(folder):
    rng = np.random.default_rng(1)
    os.makedirs(osp.join(folder, 'sub'))
    shapes = {}

    def put(rel, img):
        cv2.imwrite(osp.join(folder, rel), img)
        shapes[osp.splitext(rel)[0] + '.png'] = img.shape[:2]

    put('a.png', rng.integers(0, 255, (70, 90, 3), dtype=np.uint8))
    put('sub/b.jpg', rng.integers(0, 255, (50, 60, 3), dtype=np.uint8))
    put('sub/gray.png', rng.integers(0, 255, (40, 41), dtype=np.uint8))
    put('rgba.png', rng.integers(0, 255, (33, 65, 4), dtype=np.uint8))
    put('deep16.png', rng.integers(0, 65535, (64, 48), dtype=np.uint16))
    with open(osp.join(folder, 'a.png'), 'rb') as f:
        data = f.read()
    with open(osp.join(folder, 'broken.png'), 'wb') as f:
        f.write(data[:len(data) // 2])
    return shapes


def test_generate_masks(tmp_path, run_tool, stage2_checkpoint):
    img_dir, out_dir = str(tmp_path / 'in'), str(tmp_path / 'out')
    show_dir = str(tmp_path / 'show')
    shapes = write_inputs(img_dir)
    args = ['tools/generate_anatomy_masks.py', STAGE2, stage2_checkpoint,
            '--img-dir', img_dir, '--out-dir', out_dir, '--batch-size', '2',
            '--num-workers', '1']
    r = run_tool(args + ['--show-dir', show_dir])
    assert r.returncode == 1, r.stderr[-3000:]
    assert 'broken.png' in r.stderr
    for rel, hw in shapes.items():
        label = cv2.imread(osp.join(out_dir, rel), cv2.IMREAD_UNCHANGED)
        assert label is not None, rel
        assert label.dtype == np.uint8 and label.shape == hw, rel
        assert label.max() <= 6
        overlay = cv2.imread(osp.join(show_dir, rel))
        assert overlay.shape == hw + (3, )
    assert not osp.exists(osp.join(out_dir, 'broken.png'))
    assert not [f for f in os.listdir(out_dir) if f.startswith('.tmp_')]
    with open(osp.join(out_dir, 'summary.json')) as f:
        summary = json.load(f)
    assert (summary['done'], summary['skipped'], summary['failed']) == \
        (5, 0, 1)
    assert summary['failures'][0]['image'] == 'broken.png'
    assert 'cannot decode' in summary['failures'][0]['reason']
    assert sum(summary['pixels_per_class'].values()) == sum(
        h * w for h, w in shapes.values())
    assert set(summary['pixels_per_class']) >= {'background', 'lesion'}

    before = {rel: os.stat(osp.join(out_dir, rel)).st_mtime_ns
              for rel in shapes}
    r = run_tool(args)
    assert r.returncode == 1  # the broken file still fails
    with open(osp.join(out_dir, 'summary.json')) as f:
        summary = json.load(f)
    assert (summary['done'], summary['skipped'], summary['failed']) == \
        (0, 5, 1)
    assert before == {rel: os.stat(osp.join(out_dir, rel)).st_mtime_ns
                      for rel in shapes}


def test_generate_masks_refuses_stage1(tmp_path, run_tool):
    os.makedirs(tmp_path / 'in')
    r = run_tool(['tools/generate_anatomy_masks.py', STAGE1, 'x.pth',
                  '--img-dir', str(tmp_path / 'in'), '--out-dir',
                  str(tmp_path / 'out')])
    assert r.returncode == 2
    assert 'stage-2' in r.stderr and 'Traceback' not in r.stderr
