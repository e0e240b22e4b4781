"""Benchmark runner: pre-training seeds (``pretrain_seeds``) and probes
(``probes=dict(anatomy=...)``) end to end on the tiny simulated set, with
the pre-training itself replaced by writing seeded ResNet-18 weights (the
real pre-training is covered by the tools' own tests)."""
import json
import os
import os.path as osp

import pytest
import torch

from anaus_mm.benchmark import runner as runner_mod
from fixtures.tiny_configs import write_tiny_seg

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

TINY_BENCH = """
pretrain_data = dict(data_root={root!r}, img_dir='images', mask_dir='masks')
pretrain = dict(max_iters=20, batch_size=2, seed=0)
pretrain_seeds = [0, 1]
methods = dict(anaus=dict(
    config='configs/anaus/anaus_resnet18_1xb4-30it_sim-demo.py',
    needs_masks=True),
               random=None)
downstream = dict(lesion_seg=dict(config={seg!r}, main_metric='fgDice',
                                  metrics=['fgDice', 'mDice']))
kfold = dict(num_splits=2, seed=0)
label_fractions = [1.0]
seeds = 1
finetune_iters = dict(lesion_seg=1)
finetune_iters_scaling = 'fixed'
probes = dict(anatomy=dict(data_root={root!r}, folds=2, kinds=['roi']))
"""


def _fake_pretrain(self, name, method, seed=None):
    """Seeded ResNet-18 weights in ``WORK_DIR/<name>/pretrain``."""
    from mmpretrain.models import ResNet
    if method is None or method.get('config') is None:
        return None
    work = osp.join(self.work_dir, name, 'pretrain')
    os.makedirs(work, exist_ok=True)
    ckpt = osp.join(work, 'fake.pth')
    torch.manual_seed(100 + (seed or 0))
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in
                                ResNet(depth=18).state_dict().items()}), ckpt)
    return ckpt


def test_pretrain_seeds_and_probes(sim_data_dir, tmp_path, monkeypatch,
                                   capsys):
    from anaus_mm.benchmark import (load_benchmark, make_protocol,
                                    run_benchmark)
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    monkeypatch.setattr(runner_mod.Benchmark, 'pretrain', _fake_pretrain)
    seg = write_tiny_seg(tmp_path / 'tiny_seg.py', sim_data_dir)
    cfg_path = tmp_path / 'bench.py'
    cfg_path.write_text(TINY_BENCH.format(root=sim_data_dir, seg=seg))
    work = str(tmp_path / 'work')
    cfg, methods = load_benchmark(str(cfg_path))
    protocol = make_protocol(cfg, methods)
    assert protocol['pretrain_seeds'] == [0, 1]
    # the dry run counts a pre-training and its runs per seed
    run_benchmark(cfg, str(cfg_path), work, methods, protocol, dry_run=True)
    out = capsys.readouterr().out
    assert 'dry run: 6 fine-tuning runs to do' in out
    assert 'anaus/pretrain_seed1: probe anatomy' in out

    cfg, methods = load_benchmark(str(cfg_path))
    assert run_benchmark(cfg, str(cfg_path), work, methods, protocol,
                         in_process=True) is not None
    res = json.load(open(osp.join(work, 'results.json')))
    runs = res['runs']
    assert sorted((r['method'], r.get('pretrain_seed'), r['fold'])
                  for r in runs if r['method'] == 'anaus') == [
        ('anaus', s, f) for s in (0, 1) for f in (0, 1)]
    assert all('pretrain_seed' not in r for r in runs
               if r['method'] == 'random')
    for seed in (0, 1):
        assert osp.isfile(osp.join(work, 'anaus', f'pretrain_seed{seed}',
                                   'lesion_seg', 'label1_seed0_iters1',
                                   'fold_1', 'metrics.json'))
    assert set(res['checkpoints']['anaus']) == {'pretrain_seed0',
                                                'pretrain_seed1'}
    le = res['label_efficiency']
    assert le['anaus']['lesion_seg']['1']['n_runs'] == 4
    assert le['random']['lesion_seg']['1']['n_runs'] == 2
    # every anaus run paired with the random run of its (fold, seed)
    paired = res['paired']['lesion_seg']['1']['random']
    assert paired['n'] == 4
    by = {(r['method'], r.get('pretrain_seed'), r['fold']):
          r['metrics']['fgDice'] for r in runs}
    diffs = [by[('anaus', s, f)] - by[('random', None, f)]
             for s in (0, 1) for f in (0, 1)]
    assert paired['mean'] == pytest.approx(sum(diffs) / 4, abs=1e-6)

    probes = res['probes']
    assert set(probes) == {'anaus', 'random'}
    anaus = probes['anaus']['anatomy']
    assert anaus['n_pretrain_seeds'] == 2
    assert anaus['roi']['seed_std'] is not None
    assert probes['random']['anatomy']['n_pretrain_seeds'] == 1
    # one probe per pre-training, each on its own checkpoint
    per = anaus['per_pretrain']
    assert sorted(per) == [osp.join('anaus', f'pretrain_seed{s}')
                           for s in (0, 1)]
    assert [p['request']['checkpoint'] for p in per.values()] == [
        res['checkpoints']['anaus'][f'pretrain_seed{s}'] for s in (0, 1)]
    md = open(osp.join(work, 'results.md')).read()
    for text in ('## Anatomy probes (frozen backbone)', '### anatomy',
                 '| anaus |', '| random |', 'Pre-training seeds [0, 1]'):
        assert text in md, text

    # cached: a rerun recomputes neither runs nor probes
    probe_file = osp.join(work, 'anaus', 'pretrain_seed0',
                          'probe_anatomy.json')
    mtime = os.path.getmtime(probe_file)
    cfg, methods = load_benchmark(str(cfg_path))
    run_benchmark(cfg, str(cfg_path), work, methods, protocol,
                  in_process=True)
    assert os.path.getmtime(probe_file) == mtime


def test_gpu_and_powered_configs_resolve():
    """The GPU benchmark config (not run here): every pre-training config
    loads under the common budget and builds, the ViT-B methods run their
    own downstream config, every backbone has a probe config; the powered
    CPU config has 2 pre-training seeds."""
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS

    from anaus_mm.benchmark import load_benchmark, make_protocol
    from anaus_mm.benchmark.runner import (Benchmark, check_equal_footing,
                                           method_task, pretrain_variants)
    from anaus_mm.evaluation.anatomy_probe import backbone_cfg_from
    cfg, methods = load_benchmark(osp.join(
        REPO, 'configs/benchmark_ssl/sim_gpu_resnet18_vit-b.py'))
    bench = Benchmark(cfg, 'unused')
    schedules = {n: bench.schedule(n, m) for n, m in methods.items()}
    schedules = {n: s for n, s in schedules.items() if s}
    assert len(schedules) == 8
    check_equal_footing(schedules)
    assert {s['images_seen'] for s in schedules.values()} == {200 * 64}
    assert all(s['min_lr_iter'] == 199 for s in schedules.values())
    task = cfg.downstream['lesion_seg']
    for name, method in methods.items():
        own = method_task(task, method, 'lesion_seg')
        assert ('vit-b16' in own['config']) == name.endswith('_vitb')
        assert own['cfg_options'] == task['cfg_options']
        backbone = (method or {}).get('probe_backbone') or (
            osp.join(REPO, method['config']) if method and
            method.get('config') else None)
        probe_cfg = backbone_cfg_from(backbone)
        assert probe_cfg['type'] == ('VisionTransformer' if
                                     name.endswith('_vitb') else 'ResNet')
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        for name in ('mae_vitb', 'mocov3_vitb', 'byol'):
            run_cfg = bench.pretrain_config(name, methods[name])
            assert run_cfg.train_dataloader.dataset.type == \
                'USAnatomyDataset'
            assert run_cfg.train_dataloader.batch_size == 64
            MODELS.build(run_cfg.model)
    # the powered CPU config: 2 pre-trainings per pre-trained method
    cfg, methods = load_benchmark(osp.join(
        REPO, 'configs/benchmark_ssl/sim_resnet18_powered_cpu.py'))
    protocol = make_protocol(cfg, methods)
    assert protocol['pretrain_seeds'] == [0, 1]
    assert protocol['fractions'] == [0.1, 0.25] and protocol['seeds'] == 3
    assert len(pretrain_variants('byol', methods['byol'], protocol)) == 2
    assert pretrain_variants('random', None, protocol) == [('random', None)]
    assert cfg.pretrain_data['data_root'] != \
        cfg.downstream['lesion_seg']['cfg_options'][
            'train_dataloader.dataset.dataset.data_root']
