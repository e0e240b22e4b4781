"""LP-SAM through the tools: tiny stage-1 / stage-2 training with
``tools/train.py`` and ``tools/generate_anatomy_masks.py`` on a folder of
mixed image formats (including a truncated file), and the Python API
(:class:`anaus_mm.apis.LPSAMInferencer`) the tool is built on."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

STAGE1 = 'configs/lpsam/lpsam-stage1_tiny_1xb2-20it_sim-demo.py'
STAGE2 = 'configs/lpsam/lpsam-stage2_tiny_1xb2-20it_sim-demo.py'


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


def temp_leftovers(root):
    """Temporary files of :func:`anaus_mm.utils.io.atomic_write_bytes` left
    under ``root``: ``mkstemp(prefix='.' + name, suffix='.tmp')`` next to
    the destination, i.e. ``.<name><random>.tmp``."""
    return sorted(
        osp.relpath(osp.join(folder, f), root)
        for folder, _, files in os.walk(root) for f in files
        if f.startswith('.') and f.endswith('.tmp'))


def test_leftover_check_catches_an_interrupted_write(tmp_path, monkeypatch):
    """A write killed between the temp file and the rename leaves the real
    writer's temp file behind, and :func:`temp_leftovers` finds it."""
    from anaus_mm.utils import io as aio
    (tmp_path / 'sub').mkdir()
    (tmp_path / 'done.png').write_bytes(b'x')
    (tmp_path / 'sub' / '.hidden.png').write_bytes(b'x')
    (tmp_path / 'sub' / 'notes.tmp').write_bytes(b'x')
    assert temp_leftovers(str(tmp_path)) == []

    def killed(src, dst):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:  # no rename, no clean-up: a hard kill
        m.setattr(aio.os, 'replace', killed)
        m.setattr(aio.os, 'remove', lambda path: None)
        with pytest.raises(KeyboardInterrupt):
            aio.atomic_write_bytes(str(tmp_path / 'sub' / 'a.png'), b'png')
    assert not (tmp_path / 'sub' / 'a.png').exists()
    left = temp_leftovers(str(tmp_path))
    assert len(left) == 1 and left[0].startswith(osp.join('sub', '.a.png'))


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
    assert temp_leftovers(out_dir) == [] and temp_leftovers(show_dir) == []
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


def _hand_label_map(model, data, min_iou, score_thr):
    """The label map written out by hand: the model's class probabilities
    at input size, classes with predicted IoU < ``min_iou`` zeroed, resized
    (bilinear) to the original size, argmax + 1 where the best probability
    reaches ``score_thr``, else 0."""
    with torch.no_grad():
        batch = model.data_preprocessor(dict(inputs=[data['inputs']]), False)
        probs, iou = model.predict_probs(batch['inputs'])
    probs = probs[0] * (iou[0] >= min_iou).float()[:, None, None]
    probs = F.interpolate(probs[None], size=data['ori_shape'],
                          mode='bilinear', align_corners=False)[0]
    best, arg = probs.max(dim=0)
    return torch.where(best >= score_thr, arg + 1,
                       torch.zeros_like(arg)).to(torch.uint8).numpy()


def test_written_labels_are_the_models_filtered_resized_probabilities(
        tmp_path, run_tool, stage2_checkpoint):
    """Every PNG of the tool equals, pixel for pixel, the label map built
    from the model's IoU-filtered, resized probabilities, and the Python
    API's label map of the same image."""
    from anaus_mm.apis import LPSAMInferencer
    from anaus_mm.datasets.utils import list_files
    img_dir, out_dir = str(tmp_path / 'in'), str(tmp_path / 'out')
    write_inputs(img_dir)
    images = [r for r in list_files(img_dir, recursive=True)
              if r != 'broken.png']
    # the random tiny model's probabilities lie in ~0.45-0.50: a threshold
    # inside that range gives background and several classes
    score_thr = 0.48
    inferencer = LPSAMInferencer(STAGE2, stage2_checkpoint, device='cpu',
                                 score_thr=score_thr)
    paths = [osp.join(img_dir, r) for r in images]
    unfiltered = inferencer(paths)['predictions']
    ious = np.unique(np.concatenate([p['pred_iou'] for p in unfiltered]))
    mid = len(ious) // 2  # between two predicted IoUs: drops about half
    min_iou = float((ious[mid - 1] + ious[mid]) / 2)

    expected = {}
    for rel, path, plain in zip(images, paths, unfiltered):
        label = _hand_label_map(inferencer.model, inferencer.pipeline(path),
                                min_iou, score_thr)
        api = inferencer(path, min_iou=min_iou)['predictions']
        assert np.array_equal(api['sem_seg'], label), rel
        assert np.array_equal(api['pred_iou'], plain['pred_iou']), rel
        expected[osp.splitext(rel)[0] + '.png'] = (label, plain['sem_seg'])
    labels = np.concatenate([e[0].ravel() for e in expected.values()])
    assert len(np.unique(labels)) >= 3  # background and >= 2 classes
    assert any(not np.array_equal(f, u) for f, u in expected.values())

    r = run_tool(['tools/generate_anatomy_masks.py', STAGE2,
                  stage2_checkpoint, '--img-dir', img_dir, '--out-dir',
                  out_dir, '--batch-size', '1', '--num-workers', '0',
                  '--score-thr', str(score_thr), '--min-iou', repr(min_iou),
                  '--device', 'cpu'],
                 env={'OMP_NUM_THREADS': str(torch.get_num_threads())})
    assert r.returncode == 1, r.stderr[-3000:]  # broken.png
    for rel, (label, _) in expected.items():
        written = cv2.imread(osp.join(out_dir, rel), cv2.IMREAD_UNCHANGED)
        assert written is not None and written.dtype == np.uint8, rel
        assert np.array_equal(written, label), rel
    with open(osp.join(out_dir, 'summary.json')) as f:
        summary = json.load(f)
    counts = np.bincount(labels, minlength=7)
    assert list(summary['pixels_per_class'].values()) == counts.tolist()


def test_python_api_in_three_lines(tmp_path, stage2_checkpoint):
    path = str(tmp_path / 'us.png')
    cv2.imwrite(path, np.random.default_rng(0).integers(
        0, 65535, (45, 70), dtype=np.uint16))

    from anaus_mm.apis import LPSAMInferencer
    inferencer = LPSAMInferencer(STAGE2, checkpoint=stage2_checkpoint)
    pred = inferencer(path)['predictions']

    assert pred['sem_seg'].shape == (45, 70)
    assert pred['sem_seg'].dtype == np.uint8 and pred['sem_seg'].max() <= 6
    assert pred['pred_iou'].shape == (6, )
    assert inferencer.classes[0] == 'background'
    assert len(inferencer.classes) == len(inferencer.palette) == 7
    # arrays, lists and folders; batches; overlays
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    res = inferencer([img, path], batch_size=2, return_vis=True)
    assert len(res['predictions']) == 2
    assert res['visualization'][0].shape == (45, 70, 3)
    assert np.array_equal(res['predictions'][0]['sem_seg'],
                          res['predictions'][1]['sem_seg'])
    folder = inferencer(str(tmp_path))['predictions']
    assert isinstance(folder, list) and len(folder) == 1
    sample = inferencer(path, return_datasamples=True)
    assert np.array_equal(sample.pred_sem_seg.data[0].numpy(),
                          pred['sem_seg'])


def test_python_api_checkpoint_errors(tmp_path, stage2_checkpoint):
    from anaus_mm.apis import LPSAMInferencer
    state = torch.load(stage2_checkpoint, weights_only=False)['state_dict']
    ddp = str(tmp_path / 'ddp.pth')  # keys of a DDP-wrapped model
    torch.save({'state_dict': {'module.' + k: v for k, v in state.items()}},
               ddp)
    a = LPSAMInferencer(STAGE2, ddp, device='cpu')
    b = LPSAMInferencer(STAGE2, stage2_checkpoint, device='cpu')
    img = np.full((30, 30, 3), 90, np.uint8)
    assert np.array_equal(a(img)['predictions']['pred_iou'],
                          b(img)['predictions']['pred_iou'])

    partial = str(tmp_path / 'partial.pth')
    torch.save({'state_dict': {k: v for k, v in state.items()
                               if not k.startswith('prompt_engine.')}},
               partial)
    with pytest.raises(ValueError, match='lacks .* stage-2 checkpoint'):
        LPSAMInferencer(STAGE2, partial, device='cpu')
    key = next(k for k in state if k.startswith('prompt_engine.'))
    bad = dict(state, **{key: torch.zeros(3, 3, 3)})
    torch.save({'state_dict': bad}, partial)
    with pytest.raises(ValueError, match=f'"{key}" has shape'):
        LPSAMInferencer(STAGE2, partial, device='cpu')
    with pytest.raises(FileNotFoundError, match='checkpoint file not found'):
        LPSAMInferencer(STAGE2, partial + '.missing', device='cpu')
    with pytest.raises(ValueError, match='stage-2'):
        LPSAMInferencer(STAGE1, stage2_checkpoint, device='cpu')


def test_killed_run_resumes_without_partial_pngs(tmp_path, repo_root,
                                                 stage2_checkpoint):
    """``kill -9`` after the first label PNG: every PNG left is complete
    (atomic writes), a stale temp file is never taken for an output, and
    the rerun skips the finished images, removes the temp files of the
    ones it redoes and writes the rest."""
    import signal
    import subprocess
    import sys
    import time

    img_dir, out_dir = tmp_path / 'in', tmp_path / 'out'
    img_dir.mkdir()
    rng = np.random.default_rng(0)
    n, size = 32, 256  # ~10-20 ms per image: the kill lands mid-run
    for i in range(n):
        cv2.imwrite(str(img_dir / f'img_{i:03d}.png'),
                    rng.integers(0, 255, (size, size), dtype=np.uint8))
    args = [sys.executable, 'tools/generate_anatomy_masks.py', STAGE2,
            stage2_checkpoint, '--img-dir', str(img_dir), '--out-dir',
            str(out_dir), '--batch-size', '1', '--num-workers', '0',
            '--device', 'cpu']
    env = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1')

    def pngs():
        return sorted(f for f in os.listdir(out_dir) if f.endswith('.png')
                      and not f.startswith('.')) if out_dir.is_dir() else []

    proc = subprocess.Popen(args, cwd=repo_root, env=env,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not pngs() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, 'the run ended before the kill'
    written = pngs()
    assert 1 <= len(written) < n
    assert not (out_dir / 'summary.json').exists()
    for f in written:  # no partial PNG under a final name
        label = cv2.imread(str(out_dir / f), cv2.IMREAD_UNCHANGED)
        assert label is not None and label.shape == (size, size), f
    # anything else is a temp file of the atomic writer
    others = set(os.listdir(out_dir)) - set(written)
    assert all(f.startswith('.') and f.endswith('.tmp') for f in others)
    # a write killed between temp file and rename, for an unfinished image
    todo = sorted(f'img_{i:03d}.png' for i in range(n))
    todo = [f for f in todo if f not in written]
    stale = out_dir / f'.{todo[0]}k1ll3d_x.tmp'
    stale.write_bytes(b'\x89PNG half')
    before = {f: os.stat(out_dir / f).st_mtime_ns for f in written}

    r = subprocess.run(args, cwd=repo_root, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f'{n - len(written)} done, {len(written)} skipped, 0 failed' \
        in r.stdout
    assert 'removed' in r.stderr and 'temporary files' in r.stderr
    with open(out_dir / 'summary.json') as f:
        summary = json.load(f)
    assert (summary['done'], summary['skipped'], summary['failed']) == \
        (n - len(written), len(written), 0)
    assert summary['temp_files_removed'] >= 1
    assert not stale.exists() and temp_leftovers(str(out_dir)) == []
    assert pngs() == sorted(f'img_{i:03d}.png' for i in range(n))
    for f in pngs():
        label = cv2.imread(str(out_dir / f), cv2.IMREAD_UNCHANGED)
        assert label is not None and label.shape == (size, size), f
    assert before == {f: os.stat(out_dir / f).st_mtime_ns for f in written}
