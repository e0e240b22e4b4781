"""The compatibility module: mmcv.ops stand-in, checkpoint loader, versions."""
import logging
import math
import os
import pickle
import sys

import pytest
import torch
from mmengine.model import BaseModel

import anaus_mm
from anaus_mm import compat
from anaus_mm.utils.version_check import check_dependencies


def _bilinear(img, x, y):
    """Bilinear sample of a (H, W) image at continuous pixel coords, zeros
    outside (grid_sample's padding_mode='zeros', align_corners=False)."""
    h, w = img.shape
    x0, y0 = math.floor(x), math.floor(y)
    total = 0.0
    for dx in (0, 1):
        for dy in (0, 1):
            xi, yi = x0 + dx, y0 + dy
            wx = 1 - abs(x - xi)
            wy = 1 - abs(y - yi)
            if 0 <= xi < w and 0 <= yi < h:
                total += wx * wy * float(img[yi, xi])
    return total


def test_point_sample_matches_hand_bilinear():
    from mmcv.ops import point_sample
    torch.manual_seed(0)
    feats = torch.randn(2, 3, 5, 7)
    points = torch.rand(2, 4, 2)
    out = point_sample(feats, points)
    assert out.shape == (2, 3, 4)
    for n in range(2):
        for c in range(3):
            for p in range(4):
                # align_corners=False: normalised x maps to x * W - 0.5
                x = float(points[n, p, 0]) * 7 - 0.5
                y = float(points[n, p, 1]) * 5 - 0.5
                expect = _bilinear(feats[n, c], x, y)
                assert out[n, c, p].item() == pytest.approx(expect, abs=1e-5)


def test_point_sample_grid_points_keep_shape():
    from mmcv.ops import point_sample
    feats = torch.arange(16.).view(1, 1, 4, 4)
    # sampling exactly at pixel centres returns the pixels
    centres = (torch.arange(4.) + 0.5) / 4
    yy, xx = torch.meshgrid(centres, centres, indexing='ij')
    grid = torch.stack([xx, yy], -1)[None]
    out = point_sample(feats, grid)
    assert out.shape == (1, 1, 4, 4)
    assert torch.allclose(out, feats)


def test_sigmoid_focal_loss_matches_formula():
    from mmcv.ops import sigmoid_focal_loss
    torch.manual_seed(1)
    logits = torch.randn(5, 3)
    target = torch.tensor([0, 2, 3, 1, 0])  # 3 == background
    weight = torch.tensor([1.0, 0.5, 2.0, 1.0, 0.0])
    gamma, alpha = 2.0, 0.25
    expect = torch.zeros(5, 3)
    for i in range(5):
        for c in range(3):
            p = 1 / (1 + math.exp(-float(logits[i, c])))
            if int(target[i]) == c:
                v = -alpha * (1 - p)**gamma * math.log(p)
            else:
                v = -(1 - alpha) * p**gamma * math.log(1 - p)
            expect[i, c] = v * float(weight[i])
    out = sigmoid_focal_loss(logits, target, gamma, alpha, weight, 'none')
    assert torch.allclose(out, expect, atol=1e-6)
    mean = sigmoid_focal_loss(logits, target, gamma, alpha, weight, 'mean')
    assert mean.item() == pytest.approx(expect.sum().item() / 5, rel=1e-5)
    total = sigmoid_focal_loss(logits, target, gamma, alpha, weight, 'sum')
    assert total.item() == pytest.approx(expect.sum().item(), rel=1e-5)


def test_other_ops_raise_module_not_found():
    import mmcv.ops
    with pytest.raises(ModuleNotFoundError, match='compiled ops'):
        mmcv.ops.roi_align  # noqa: B018


def test_mmseg_models_import():
    import mmseg.models
    from mmseg.registry import MODELS
    assert MODELS.get('EncoderDecoder') is not None
    assert hasattr(mmseg.models, 'EncoderDecoder')


def test_standin_is_noop_with_full_mmcv(monkeypatch):
    monkeypatch.setattr(compat, 'has_compiled_mmcv_ops', lambda: True)
    before = sys.modules.get('mmcv.ops')
    assert compat.install_mmcv_ops_standin() is False
    assert sys.modules.get('mmcv.ops') is before


# ---------------------------------------------------------------------------
# safe checkpoint loading
# ---------------------------------------------------------------------------
class _MakesMarker:
    """Pickles as ``os.makedirs(marker)``: code run by unpickling."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.makedirs, (self.marker, ))


class _LooksUpAttribute:
    """Pickles as ``getattr(HistoryBuffer, 'update')``."""

    def __reduce__(self):
        from mmengine.logging import HistoryBuffer
        return (getattr, (HistoryBuffer, 'update'))


def _evil_checkpoints(tmp_path):
    """A torch.save (zip) and a raw-pickle checkpoint that create ``marker``
    when unpickled."""
    marker = tmp_path / 'pwned'
    zipped = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'backbone.unused': torch.zeros(1)},
                'meta': {'x': _MakesMarker(marker)}}, zipped)
    raw = tmp_path / 'evil_raw.pth'
    with open(raw, 'wb') as f:
        pickle.dump({'x': _MakesMarker(marker)}, f, protocol=2)
    return marker, [zipped, raw]


def _assert_refused(info, path, culprit):
    msg = str(info.value)
    assert '\n' not in msg
    assert msg.startswith(f'{path}: refused: the file needs unpickling of '
                          f'{culprit}, which can run code')
    assert 'ANAUS_UNSAFE_LOAD=1' in msg


def test_code_running_checkpoint_is_refused(tmp_path, monkeypatch):
    from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint
    monkeypatch.delenv(compat.UNSAFE_LOAD_ENV, raising=False)
    assert CheckpointLoader._schemes[''] is compat.load_from_local
    marker, paths = _evil_checkpoints(tmp_path)
    for path in paths:
        with pytest.raises(compat.UnsafeCheckpointError) as info:
            _load_checkpoint(str(path), map_location='cpu')  # mmengine's way
        _assert_refused(info, path, 'os.makedirs')
        assert not marker.exists()
    # a look-up other than HistoryBuffer's statistics methods is refused too
    path = tmp_path / 'getattr.pth'
    torch.save({'x': _LooksUpAttribute()}, path)
    with pytest.raises(compat.UnsafeCheckpointError) as info:
        compat.load_checkpoint_file(str(path))
    _assert_refused(info, path, "builtins.getattr(HistoryBuffer, 'update')")
    # the error is an ordinary UnpicklingError and a one-line CLI error
    from anaus_mm.utils.errors import AnausError
    assert isinstance(info.value, (pickle.UnpicklingError, AnausError))
    with pytest.raises(FileNotFoundError):
        compat.load_checkpoint_file(str(tmp_path / 'missing.pth'))


class _Records(logging.Handler):

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_unsafe_opt_in_unpickles_and_warns_each_time(tmp_path, monkeypatch):
    from mmengine.logging import MMLogger
    from mmengine.runner.checkpoint import _load_checkpoint
    marker, (path, raw) = _evil_checkpoints(tmp_path)
    records = _Records()
    logger = MMLogger.get_current_instance()
    logger.addHandler(records)
    try:
        monkeypatch.setenv(compat.UNSAFE_LOAD_ENV, '1')
        assert compat.unsafe_load_enabled()
        ckpt = _load_checkpoint(str(path), map_location='cpu')
        assert marker.is_dir() and list(ckpt['state_dict']) == [
            'backbone.unused']
        marker.rmdir()
        # not a torch file: the unpickling (marker) happens, then torch
        # finds no magic number
        with pytest.raises(RuntimeError, match='magic number'):
            compat.load_checkpoint_file(str(raw))
        assert marker.is_dir()
        monkeypatch.setenv(compat.UNSAFE_LOAD_ENV, '0')
        with pytest.raises(compat.UnsafeCheckpointError):
            compat.load_checkpoint_file(str(path))
        # trusted=True is the same opt-in from Python
        marker.rmdir()
        compat.load_checkpoint_file(str(path), trusted=True)
        assert marker.is_dir()
    finally:
        logger.removeHandler(records)
    warned = [m for m in records.messages if 'can run code' in m]
    assert [str(path) in m for m in warned] == [True, False, True]
    assert str(raw) in warned[1]


def test_history_buffer_and_numpy_load_weights_only(tmp_path):
    import numpy as np
    from mmengine.logging import HistoryBuffer
    buf = HistoryBuffer()
    buf.update(1.5)
    buf.update(2.5)
    path = tmp_path / 'ckpt.pth'
    torch.save({'meta': {'buf': buf, 'eta': np.float64(3.0),
                         'arr': np.arange(3, dtype=np.int64),
                         'dtype': np.dtype('float32')},
                'state_dict': {}}, path)
    # plain torch.load with weights_only=True reads it after `import anaus_mm`
    ckpt = torch.load(path, weights_only=True)
    loaded = ckpt['meta']['buf']
    assert isinstance(loaded, HistoryBuffer)
    assert loaded.mean() == 2.0 and loaded.current() == 2.5
    assert ckpt['meta']['eta'] == 3.0
    assert ckpt['meta']['arr'].tolist() == [0, 1, 2]
    assert ckpt['meta']['dtype'] == np.float32
    # the allow-list maps builtins.getattr to a restricted stand-in only
    names = {g[1] if isinstance(g, tuple) else
             f'{g.__module__}.{g.__qualname__}'
             for g in compat.checkpoint_safe_globals()}
    assert 'mmengine.logging.history_buffer.HistoryBuffer' in names
    assert getattr not in compat.checkpoint_safe_globals()
    assert getattr not in torch.serialization.get_safe_globals()


class _ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, inputs, labels=None, mode='tensor'):
        out = self.linear(torch.stack(inputs) if isinstance(inputs, list)
                          else inputs)
        if mode == 'loss':
            return dict(loss=((out.squeeze(1) - labels)**2).mean())
        return out


class _ToyData(torch.utils.data.Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(inputs=torch.tensor([float(i), 1.0]),
                    labels=torch.tensor(float(i % 3)))


def _toy_runner(work_dir, max_iters, **kw):
    from mmengine.runner import Runner
    return Runner(
        model=_ToyModel(), work_dir=str(work_dir),
        train_dataloader=dict(dataset=_ToyData(), batch_size=4,
                              sampler=dict(type='InfiniteSampler',
                                           shuffle=False),
                              collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01,
                                          momentum=0.9)),
        param_scheduler=dict(type='LinearLR', start_factor=0.5,
                             by_epoch=False, begin=0, end=4),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook',
                                           interval=1, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        log_processor=dict(by_epoch=False, window_size=1),
        randomness=dict(seed=0), default_scope='mmengine', **kw)


def test_own_runner_checkpoint_resumes_and_loads(tmp_path, monkeypatch):
    """A checkpoint written by mmengine's Runner (message hub with history
    buffers, numpy scalars, optimizer and scheduler states) loads with
    weights_only=True: resume, load_from and init_cfg=Pretrained."""
    from mmengine.logging import HistoryBuffer
    from mmengine.runner.checkpoint import load_checkpoint
    monkeypatch.delenv(compat.UNSAFE_LOAD_ENV, raising=False)
    first = _toy_runner(tmp_path / 'a', 2, experiment_name='compat_a')
    first.train()
    ckpt_path = tmp_path / 'a' / 'iter_2.pth'
    # without the allow-list this is exactly what weights_only refuses
    torch.serialization.clear_safe_globals()
    try:
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(
            str(ckpt_path))
    finally:
        compat.install_safe_globals()
    assert {'builtins.getattr', 'mmengine.logging.history_buffer.'
            'HistoryBuffer', 'numpy.core.multiarray.scalar'} <= set(unsafe)
    assert torch.serialization.get_unsafe_globals_in_checkpoint(
        str(ckpt_path)) == []
    ckpt = compat.load_checkpoint_file(str(ckpt_path))
    assert isinstance(ckpt['message_hub']['log_scalars']['train/loss'],
                      HistoryBuffer)

    resumed = _toy_runner(tmp_path / 'b', 3, experiment_name='compat_b',
                          resume=True, load_from=str(ckpt_path))
    resumed.train()
    assert resumed.iter == 3
    losses = resumed.message_hub.get_scalar('train/loss').data[0]
    assert len(losses) == 3  # two resumed from the checkpoint, one new
    final = first.model.state_dict()
    # load_from / init_cfg=Pretrained go through the same loader
    fresh = _ToyModel()
    load_checkpoint(fresh, str(ckpt_path), map_location='cpu')
    assert torch.equal(fresh.linear.weight, final['linear.weight'])
    from mmengine.model import PretrainedInit
    fresh = _ToyModel()
    PretrainedInit(checkpoint=str(ckpt_path), prefix='linear.')(fresh.linear)
    assert torch.equal(fresh.linear.bias, final['linear.bias'])


@pytest.fixture
def tiny_image_root(tmp_path):
    import cv2
    import numpy as np
    rng = np.random.RandomState(0)
    os.makedirs(tmp_path / 'data' / 'images')
    for i in range(2):
        cv2.imwrite(str(tmp_path / 'data' / 'images' / f'{i}.png'),
                    (rng.rand(48, 48, 3) * 255).astype(np.uint8))
    return str(tmp_path / 'data')


def _train_cmd(data_root, work_dir, *extra):
    return ['tools/train.py',
            'configs/selfsup/byol_resnet18_1xb4-30it_sim-demo.py',
            '--work-dir', str(work_dir), *extra, '--cfg-options',
            f'train_dataloader.dataset.data_root={data_root}',
            'train_dataloader.batch_size=2', 'train_cfg.max_iters=1',
            'default_hooks.checkpoint.interval=1']


def test_train_tool_refuses_code_running_pretrained(tiny_image_root,
                                                    run_tool, tmp_path):
    marker, (path, _) = _evil_checkpoints(tmp_path)
    res = run_tool(_train_cmd(tiny_image_root, tmp_path / 'w1',
                              '--pretrained', str(path)),
                   env={compat.UNSAFE_LOAD_ENV: ''})
    assert res.returncode == 2, res.stderr[-3000:]
    assert 'Traceback' not in res.stderr
    errors = [ln for ln in res.stderr.splitlines() if 'error:' in ln]
    assert errors == [f'train.py: error: {path}: refused: the file needs '
                      'unpickling of os.makedirs, which can run code; set '
                      'ANAUS_UNSAFE_LOAD=1 (tools/train.py: --unsafe-load) '
                      'to trust it'], res.stderr[-3000:]
    assert not marker.exists()
    # --unsafe-load opts in: the file is unpickled (marker) with a warning
    res = run_tool(_train_cmd(tiny_image_root, tmp_path / 'w2',
                              '--pretrained', str(path), '--unsafe-load'),
                   env={compat.UNSAFE_LOAD_ENV: ''})
    assert res.returncode == 0, res.stderr[-3000:]
    assert marker.is_dir()
    out = res.stdout + res.stderr
    assert f'{path}: fully unpickling the checkpoint' in out


def test_version_check_names_package_and_range():
    fake = {'mmengine': '0.10.7', 'mmcv': '2.2.0', 'mmpretrain': '1.2.0',
            'mmsegmentation': None}
    with pytest.raises(ImportError) as info:
        check_dependencies(version_getter=fake.get)
    msg = str(info.value)
    assert 'mmcv==2.2.0' in msg and 'mmcv>=2.0.0,<2.2.0' in msg
    assert 'mmsegmentation is not installed' in msg
    assert 'mmengine==' not in msg and 'mmpretrain==' not in msg
    # the real environment passes
    check_dependencies()
    assert anaus_mm.__version__
