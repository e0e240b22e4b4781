"""Every config in configs/benchmarks builds on fixture data; the ResNet-18
ones train 2 iterations (+ validation) at 32 px, and so does one ViT-B/16
UPerNet (the other ViT-B configs are loaded and checked, not run)."""
import glob
import os.path as osp
import time

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from anaus_mm.engine.runner_utils import build_runner

from fixtures import fake_layouts as F

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', 'benchmarks', '*.py')))
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


@pytest.fixture(scope='module', autouse=True)
def cheap_cpu_runs():
    """One torch thread (the shared 2-core machine is oversubscribed: 1
    thread was ~5x faster here) and no yapf pretty-printing of the config
    (the Runner logs and dumps it; ~1 s per run). Restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    mp = pytest.MonkeyPatch()
    mp.setattr(Config, 'pretty_text', property(lambda self: self.text))
    yield
    mp.undo()
    torch.set_num_threads(threads)


def _dataset_key(path):
    name = osp.splitext(osp.basename(path))[0]
    for key in ('simulated_anatomy', 'simulated_lesion', 'simulated', 'busi',
                'udiat', 'tn3k', 'ddti', 'tg3k', 'hmcqu', 'camus', 'pocus',
                'butterfly'):
        if name.endswith(key):
            return key
    raise KeyError(name)


@pytest.fixture(scope='module')
def layouts(tmp_path_factory, request):
    """data_root (+ extra dataset keys) for every dataset of the configs."""
    root = tmp_path_factory.mktemp('layouts')
    try:  # the simulator's own output (conftest's sim_data_dir)
        from anaus_mm.datasets.simulation import simulate_dataset  # noqa
    except ImportError:
        sim = F.make_simulated(str(root / 'sim'), n=6)
    else:
        sim = request.getfixturevalue('sim_data_dir')
    busi = F.make_busi(str(root / 'busi'), n=3)
    return dict(
        busi=(busi, {}), udiat=(F.make_udiat(str(root / 'udiat')), {}),
        tn3k=(F.make_tn3k(str(root / 'tn3k')), {}),
        ddti=(F.make_ddti(str(root / 'ddti')), {}),
        tg3k=(F.make_tg3k(str(root / 'tg3k')), {}),
        hmcqu=(F.make_hmcqu(str(root / 'hmcqu')), dict(ann_file='A4C.csv')),
        camus=(F.make_camus(str(root / 'camus')), {}),
        simulated_anatomy=(sim, {}), simulated_lesion=(sim, {}),
        simulated=(sim, {}), pocus=(F.make_pocus(str(root / 'pocus')), {}),
        butterfly=(F.make_butterfly(str(root / 'bf')), {}))


def shrink(cfg, data_root, extra, work_dir, size=32):
    """Point a benchmark config at fixture data, tiny and CPU friendly."""
    for key in LOADERS:
        loader = cfg[key]
        loader.update(num_workers=0, persistent_workers=False,
                      batch_size=2 if key == 'train_dataloader' else 1)
        loader.dataset.num_splits = 2
        inner = loader.dataset.dataset
        inner.data_root = data_root
        inner.serialize_data = False  # its gc.collect() costs ~0.5 s
        inner.update(extra)
        for t in inner.pipeline:
            for k in ('scale', 'crop_size'):
                if k in t:
                    t[k] = (size, size) if isinstance(t[k], (tuple, list)) \
                        else size
    for head in ('decode_head', 'auxiliary_head'):  # narrow heads: CPU time
        if head in cfg.model:
            cfg.model[head].channels = 16
    pre = cfg.model.get('data_preprocessor', {})
    if 'size' in pre:
        pre['size'] = (size, size)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2,
                         val_interval=2)
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.work_dir = work_dir
    cfg.experiment_name = f'{osp.basename(work_dir)}_{time.time_ns()}'
    return cfg


def test_every_benchmark_config_loads():
    assert len(CONFIGS) == 26
    for path in CONFIGS:
        cfg = Config.fromfile(path)
        assert cfg.custom_imports.imports == ['anaus_mm']
        assert 'init_cfg' in cfg.model.backbone
        assert cfg.model.backbone.init_cfg is None
        assert cfg.train_dataloader.dataset.type == 'GroupKFoldDataset'
        assert cfg.test_dataloader.dataset.test_mode is True
        if osp.basename(path).startswith('cls_'):
            assert cfg.default_scope == 'mmpretrain'
            assert cfg.optim_wrapper.optimizer == dict(
                type='Adam', lr=0.01, weight_decay=0.0)
            assert cfg.train_cfg.max_epochs == 30
            frozen = 4 if '_linear_' in path else 1
            assert cfg.model.backbone.frozen_stages == frozen
        else:
            assert cfg.default_scope == 'mmseg'
            assert cfg.val_evaluator.iou_metrics == ['mDice', 'mFscore']


R18 = [p for p in CONFIGS if '_r18_' in osp.basename(p)]


@pytest.mark.parametrize('path', R18, ids=lambda p: osp.basename(p)[:-3])
def test_r18_config_runs_two_iterations(path, layouts, tmp_path):
    data_root, extra = layouts[_dataset_key(path)]
    cfg = shrink(Config.fromfile(path), data_root, extra,
                 str(tmp_path / 'work'))
    runner = build_runner(cfg)
    runner.train()
    assert runner.iter == 2
    metrics = runner.val_loop.evaluator.metrics[0]
    assert metrics.dataset_meta['classes']
    if osp.basename(path).startswith('seg_'):
        classes = runner.train_dataloader.dataset.metainfo['classes']
        assert len(classes) == cfg.model.decode_head.num_classes
    else:
        head = runner.model.head
        assert head.num_classes == len(
            runner.train_dataloader.dataset.metainfo['classes'])
        frozen = runner.model.backbone.frozen_stages
        trainable = {n.split('.')[0] for n, p in
                     runner.model.backbone.named_parameters()
                     if p.requires_grad}
        assert trainable == ({'layer2', 'layer3', 'layer4'} if frozen == 1
                             else set())


def test_vit_b16_upernet_runs_two_iterations(layouts, tmp_path):
    """All ViT-B/16 configs load; the CAMUS one (4 classes) trains 2
    iterations at 32 px (head widths reduced; the ViT-B itself is full
    size: ~6 s on CPU)."""
    vit = [p for p in CONFIGS if '_vit-b16_' in p]
    assert len(vit) == 9
    for path in vit:
        cfg = Config.fromfile(path)
        assert cfg.model.backbone.type == 'mmpretrain.VisionTransformer'
        assert cfg.model.backbone.arch == 'b'
        assert cfg.model.neck.type == 'MultiLevelNeck'
    path = [p for p in vit if p.endswith('camus.py')][0]
    data_root, extra = layouts['camus']
    cfg = shrink(Config.fromfile(path), data_root, extra,
                 str(tmp_path / 'work'))
    runner = build_runner(cfg)
    runner.train()
    assert runner.iter == 2
    assert sum(p.numel() for p in runner.model.backbone.parameters()) > 85e6


@pytest.mark.parametrize('name', ['seg_upernet_r18_busi.py',
                                  'cls_r18_ft_busi.py'])
def test_pretrained_backbone_checkpoint_loads(name, tmp_path):
    """A ``backbone.``-prefixed mmpretrain ResNet-18 checkpoint (what the
    pre-training exports) loads into the downstream backbone."""
    from mmpretrain.models import ResNet
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import MODELS as ROOT
    source = ResNet(depth=18)
    state = {f'backbone.{k}': v for k, v in source.state_dict().items()}
    state['neck.whatever'] = torch.zeros(1)  # other modules are ignored
    ckpt = str(tmp_path / 'pretrained.pth')
    torch.save(dict(state_dict=state), ckpt)
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'benchmarks', name))
    cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=ckpt,
                                       prefix='backbone.')
    scope = cfg.default_scope
    with DefaultScope.overwrite_default_scope(scope):
        model = revert_sync_batchnorm(ROOT.build(cfg.model))
    model.init_weights()
    loaded = model.backbone.state_dict()
    for key, value in source.state_dict().items():
        assert torch.equal(loaded[key], value), key
