"""Label-efficiency protocol: paired statistics, iteration budgets and a
tiny end-to-end run of the benchmark (anaus_mm.benchmark; 2 methods, 2
folds, fractions 0.5 and 1.0, 1 seed, 1 fine-tuning iteration)."""
import json
import os
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from anaus_mm.evaluation.paired_stats import mean_std, paired_difference
from fixtures.tiny_configs import write_tiny_seg

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _bench(config, work_dir, methods=None, dry_run=False, in_process=True,
           **protocol):
    from anaus_mm.benchmark import (load_benchmark, make_protocol,
                                    run_benchmark)
    cfg, methods = load_benchmark(config, methods=methods)
    proto = make_protocol(cfg, methods, **protocol)
    return run_benchmark(cfg, config, work_dir, methods, proto,
                         dry_run=dry_run, in_process=in_process)


def test_paired_difference_hand_computed():
    st = paired_difference([1, 2, 3, 4], [0, 0, 0, 0])
    # mean 2.5, sd 1.291, t(0.975, 3) = 3.182 -> 2.5 ± 2.054
    assert st['n'] == 4 and st['mean'] == pytest.approx(2.5)
    assert st['sd'] == pytest.approx(1.2910, abs=1e-4)
    assert st['t'] == pytest.approx(3.1824, abs=1e-4)
    assert st['half_width'] == pytest.approx(2.054, abs=1e-3)
    assert (st['low'], st['high']) == pytest.approx((0.446, 4.554),
                                                    abs=1e-3)
    assert st['significant'] is True
    # dict input pairs by run key; missing / None runs are left out
    a = {'0/0': 80.0, '1/0': 82.0, '2/0': 81.0, '3/0': None}
    b = {'0/0': 81.0, '1/0': 80.0, '2/0': 82.0, '4/0': 70.0}
    st = paired_difference(a, b)
    assert st['n'] == 3 and st['mean'] == pytest.approx(0.0)
    assert st['low'] < 0 < st['high'] and st['significant'] is False
    st = paired_difference([3.0], [1.0])
    assert st['n'] == 1 and st['low'] is None and not st['significant']
    assert mean_std([1, 2, 3, float('nan'), None]) == pytest.approx(
        (2.0, 1.0, 3))


def test_paired_table_reports_power_from_the_measured_spread():
    from anaus_mm.benchmark.report import paired_table
    from anaus_mm.evaluation.paired_stats import (detectable_difference,
                                                  paired_t_power)
    a = [60.0 + 0.5 * i for i in range(15)]
    b = [x - d for x, d in zip(a, [1, -2, 4, 0, 3, 2, -1, 5, 1, 2,
                                   0, 3, -3, 6, 1])]
    st = paired_difference(a, b)
    lines = paired_table(dict(main_metric='fgDice'), {'0.1': {'byol': st}},
                         'anaus', power_gap=3.0)
    row = next(line for line in lines if line.startswith('| 10 % | byol'))
    cells = [c.strip() for c in row.strip('|').split('|')]
    assert cells[2] == '15' and cells[3] == f'{st["mean"]:+.2f}'
    assert cells[6] == f'{st["sd"]:.2f}'
    assert cells[7] == f'{detectable_difference(st["sd"], 15):.2f}'
    assert cells[8] == f'{100 * paired_t_power(3.0, st["sd"], 15):.0f} %'
    assert 'power at 3 |' in '\n'.join(lines)
    # one pair: no interval, no power
    one = paired_difference([1.0], [0.0])
    row = paired_table(dict(main_metric='fgDice'), {'0.1': {'x': one}},
                       'anaus')[-1]
    assert row.endswith('| – | – |')


def test_iteration_budget_and_scaling():
    from anaus_mm.benchmark.protocol import run_iters
    from anaus_mm.engine.budget import set_iter_budget
    cls = Config.fromfile(osp.join(
        REPO, 'configs/benchmark_ssl/downstream/cls_r18_ft_sim_demo-cpu.py'))
    cls.param_scheduler = [dict(type='LinearLR', by_epoch=True, begin=0,
                                end=3),
                           dict(type='MultiStepLR', by_epoch=True,
                                milestones=[20], begin=0, end=30)]
    set_iter_budget(cls, 60)
    assert cls.train_cfg == dict(type='IterBasedTrainLoop', max_iters=60,
                                 val_interval=60)
    assert cls.val_dataloader is None  # val set = test fold: tested once
    assert [(s['begin'], s['end'], s['by_epoch'])
            for s in cls.param_scheduler] == [(0, 6, False), (0, 60, False)]
    assert cls.default_hooks.checkpoint.by_epoch is False
    seg = Config.fromfile(osp.join(
        REPO, 'configs/benchmark_ssl/downstream/'
        'seg_upernet_r18_sim-lesion_demo-cpu.py'))
    set_iter_budget(seg, 10)  # PolyLR over 100 -> over 10
    assert seg.param_scheduler[0]['end'] == 10
    assert seg.train_cfg.max_iters == 10
    proto = dict(iters=dict(seg=100), scaling='proportional', min_iters=20)
    assert [run_iters(proto, 'seg', f) for f in (0.1, 0.25, 1.0)] == \
        [20, 25, 100]
    proto['scaling'] = 'fixed'
    assert run_iters(proto, 'seg', 0.1) == 100
    assert run_iters(proto, 'cls', 0.1) is None  # config schedule


TINY_BENCH = """
pretrain_data = dict(data_root={root!r}, img_dir='images', mask_dir='masks')
pretrain = dict(max_iters=1, batch_size=2, seed=0)
methods = dict(anaus=dict(checkpoint={ckpt!r}), random=None)
downstream = dict(lesion_seg=dict(config={seg!r}, main_metric='fgDice',
                                  metrics=['fgDice', 'mDice']))
kfold = dict(num_splits=2, seed=0)
label_fractions = [0.5, 1.0]
seeds = 1
finetune_iters = dict(lesion_seg=1)
finetune_iters_scaling = 'fixed'
"""


def test_benchmark_label_fractions_end_to_end(sim_data_dir, tmp_path,
                                              capsys, monkeypatch):
    from mmpretrain.models import ResNet
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    ckpt = str(tmp_path / 'backbone.pth')
    torch.manual_seed(0)
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in
                                ResNet(depth=18).state_dict().items()}), ckpt)
    seg = write_tiny_seg(tmp_path / 'tiny_seg.py', sim_data_dir)
    cfg = tmp_path / 'tiny_bench.py'
    cfg.write_text(TINY_BENCH.format(root=sim_data_dir, ckpt=ckpt,
                                     seg=seg))
    work = str(tmp_path / 'work')
    assert _bench(str(cfg), work) is not None
    res = json.load(open(osp.join(work, 'results.json')))
    assert len(res['runs']) == 8  # 2 methods x 2 fractions x 2 folds
    assert {(r['method'], r['label_fraction'], r['fold']) for r in
            res['runs']} == {(m, f, k) for m in ('anaus', 'random')
                             for f in (0.5, 1.0) for k in (0, 1)}
    for method in ('anaus', 'random'):  # demo interface: 100 % summary
        summary = res['results'][method]['lesion_seg']
        assert summary['folds_done'] == [0, 1] and summary['n_runs'] == 2
        assert 0 <= summary['mean']['fgDice'] <= 100
        le = res['label_efficiency'][method]['lesion_seg']
        assert set(le) == {'0.5', '1'} and le['0.5']['n_runs'] == 2
    assert res['downstream']['lesion_seg']['main_metric'] == 'fgDice'
    paired = res['paired']['lesion_seg']['0.5']['random']
    diffs = []
    for fold in (0, 1):
        a, b = [next(r['metrics']['fgDice'] for r in res['runs']
                     if r['method'] == m and r['label_fraction'] == 0.5 and
                     r['fold'] == fold) for m in ('anaus', 'random')]
        diffs.append(a - b)
    assert paired['n'] == 2
    assert paired['mean'] == pytest.approx(sum(diffs) / 2, abs=1e-6)
    # the same audited subset for both methods; 2 of the 4 training images
    for fold in (0, 1):
        subsets = [open(osp.join(work, m, 'lesion_seg',
                                 'label0.5_seed0_iters1', f'fold_{fold}',
                                 'train_subset.txt')).read().split()
                   for m in ('anaus', 'random')]
        assert subsets[0] == subsets[1] and len(subsets[0]) == 2
        whole = open(osp.join(work, 'random', 'lesion_seg',
                              'label1_seed0_iters1', f'fold_{fold}',
                              'train_subset.txt')).read().split()
        assert len(whole) == 4 and set(subsets[0]) < set(whole)
        info = json.load(open(osp.join(
            work, 'anaus', 'lesion_seg', 'label0.5_seed0_iters1',
            f'fold_{fold}', 'run_info.json')))
        assert info['iters'] == 1 and info['num_train'] == 2
    md = open(osp.join(work, 'results.md')).read()
    for text in ('## Label efficiency', '#### 50 % of the training labels',
                 '#### 100 % of the training labels', '#### Paired '
                 'comparison', 'Student-t interval', '| 50 % | random | 2 |',
                 '| method | 50 % | 100 % |'):
        assert text in md, text
    assert osp.isfile(osp.join(work, 'label_efficiency.png'))
    assert osp.isfile(osp.join(work, 'results.png'))

    # resumable: nothing is rerun; the dry run counts runs from the work dir
    metrics = osp.join(work, 'random', 'lesion_seg', 'label0.5_seed0_iters1',
                       'fold_1', 'metrics.json')
    mtime = os.path.getmtime(metrics)
    capsys.readouterr()
    _bench(str(cfg), work, seeds=2, dry_run=True, in_process=False)
    out = capsys.readouterr().out
    assert os.path.getmtime(metrics) == mtime
    assert 'dry run: 8 fine-tuning runs to do (8 already done)' in out
    assert 'median of 8 earlier runs' in out
    assert '--subset-seed 1 --no-checkpoints --train-seed 1' in out


def test_dry_run_of_the_demo_config(tmp_path, capsys):
    _bench(osp.join(REPO, 'configs/benchmark_ssl/sim_resnet18_demo-cpu.py'),
           str(tmp_path), methods=['anaus', 'byol', 'random'],
           label_fractions=[0.1, 0.25, 1.0], seeds=3, iters_per_run=100,
           dry_run=True, in_process=False)
    out = capsys.readouterr().out
    # 3 methods x 2 tasks x 3 fractions x 3 seeds x 5 folds
    assert 'dry run: 270 fine-tuning runs to do (0 already done)' in out
    assert 'default 0.5 s/iter' in out and 'estimated time:' in out
    assert not os.listdir(tmp_path)
    assert '--max-iters 30 --batch-size 4 --auto-scale-lr' in out


def test_benchmark_budget_reaches_every_method():
    """pretrain=dict(max_iters=300, batch_size=16) of a benchmark config:
    every method's effective schedule ends its cosine at iteration 300 and
    scales its LR by 16 / 4."""
    from anaus_mm.benchmark import Benchmark, load_benchmark
    cfg, methods = load_benchmark(
        osp.join(REPO, 'configs/benchmark_ssl/sim_resnet18_demo-cpu.py'),
        methods=['anaus', 'byol', 'densecl', 'simclr', 'mocov3'])
    bench = Benchmark(cfg, 'unused')
    written = {m: bench.schedule(m, methods[m]) for m in methods}
    cfg.pretrain = dict(max_iters=300, batch_size=16, seed=0)
    for name, method in methods.items():
        s = bench.schedule(name, method)
        assert (s['max_iters'], s['images_seen']) == (300, 4800), name
        assert s['min_lr_iter'] == 299, name
        assert s['peak_lr'] == pytest.approx(4 * written[name]['peak_lr'])
        run_cfg = bench.pretrain_config(name, method)
        assert run_cfg.train_dataloader.sampler.type == 'InfiniteSampler'
        assert run_cfg.train_dataloader.dataset.data_root == 'data/demo'
    # a method whose options change its batch is refused before any run
    from anaus_mm.benchmark.runner import check_equal_footing
    from anaus_mm.utils.errors import ConfigValueError
    methods['byol'] = dict(methods['byol'], cfg_options={
        'train_dataloader.batch_size': 8})
    schedules = {n: bench.schedule(n, m) for n, m in methods.items()}
    assert schedules['byol']['images_seen'] == 300 * 16  # budget wins
    schedules['byol']['images_seen'] = 300 * 8
    with pytest.raises(ConfigValueError, match='byol: 2400'):
        check_equal_footing(schedules)
