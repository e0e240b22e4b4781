"""Merging the results of separate runs of one benchmark
(``anaus_mm.benchmark.report.merge_results`` and its command line)."""
import json
import os.path as osp

import pytest
from mmengine.config import Config

from anaus_mm.benchmark.report import merge_results, pool, write_results
from anaus_mm.utils.errors import ConfigValueError

TOOL = 'tools/analysis_tools/merge_benchmark_results.py'
PROTOCOL = dict(fractions=[0.1], seeds=2, iters={'seg': 20}, scaling='fixed',
                min_iters=1, reference='ref', interval='student-t 95 %')
CFG = dict(downstream=dict(seg=dict(config='seg.py', main_metric='fgDice',
                                    metrics=['fgDice'])),
           kfold=dict(num_splits=3, seed=0),
           pretrain=dict(max_iters=10, batch_size=4),
           pretrain_data=dict(data_root='data/x'))
# fgDice of (fold, seed) runs per method
DICE = {
    'ref': {(0, 0): 50., (1, 0): 52., (2, 0): 47., (0, 1): 49., (1, 1): 55.,
            (2, 1): 51.},
    'a': {(0, 0): 53., (1, 0): 52., (2, 0): 50., (0, 1): 50., (1, 1): 58.,
          (2, 1): 50.},
    'b': {(0, 0): 40., (1, 0): 45., (2, 0): 44., (0, 1): 41., (1, 1): 47.,
          (2, 1): 43.},
}


def _write(work_dir, methods, protocol=PROTOCOL, cfg=CFG):
    """A results.json as the runner writes it, for ``methods``."""
    le, runs, results = {}, [], {}
    for m in methods:
        per_seed = {s: dict(per_fold={
            str(f): dict(fgDice=v) for (f, ss), v in DICE[m].items()
            if ss == s}) for s in (0, 1)}
        pooled, by_run = pool(per_seed)
        pooled['runs'] = {f'{f}/{s}': v for (f, s), v in by_run.items()}
        le[m] = dict(seg={'0.1': pooled})
        results[m] = dict(seg={k: v for k, v in pooled.items()
                               if k != 'runs'})
        runs += [dict(method=m, task='seg', label_fraction=0.1, seed=s,
                      fold=f, iters=20, work_dir='w',
                      metrics=dict(fgDice=v))
                 for (f, s), v in DICE[m].items()]
    curves = {m: [(0, 1.0 + i), (10, 0.5)] for i, m in enumerate(methods)}
    write_results(Config(cfg), 'bench.py', str(work_dir), results,
                  {m: None for m in methods}, dict(protocol), le, runs,
                  curves=curves)
    return osp.join(str(work_dir), 'results.json')


def test_merge_pairs_runs_made_separately_like_one_run(tmp_path):
    together = json.load(open(_write(tmp_path / 'all', ['ref', 'a', 'b'])))
    first = _write(tmp_path / 'one', ['ref', 'a'])
    second = _write(tmp_path / 'two', ['b'])  # no reference in this run
    assert json.load(open(second))['paired']['seg'] == {}
    out = tmp_path / 'merged'
    results = merge_results([first, second], str(out))
    assert list(results) == ['ref', 'a', 'b']
    merged = json.load(open(out / 'results.json'))
    assert merged['paired'] == together['paired']
    assert merged['label_efficiency'] == together['label_efficiency']
    assert sorted(merged['pretrain_loss_curves']) == ['a', 'b', 'ref']
    # hand check: ref - b (reference minus baseline) over the six (fold,
    # seed) pairs
    diffs = [DICE['ref'][k] - DICE['b'][k] for k in DICE['ref']]
    assert merged['paired']['seg']['0.1']['b']['mean'] == pytest.approx(
        sum(diffs) / 6)
    assert merged['paired']['seg']['0.1']['b']['n'] == 6
    md = (out / 'results.md').read_text()
    assert f"{sum(diffs) / 6:+.2f}" in md  # b's row of the paired table
    # another reference
    merge_results([first, second], str(tmp_path / 'm2'), reference='b')
    m2 = json.load(open(tmp_path / 'm2' / 'results.json'))
    assert m2['paired']['seg']['0.1']['ref']['mean'] == pytest.approx(
        -sum(diffs) / 6)


def test_merge_refuses_other_benchmarks_and_repeated_methods(tmp_path):
    first = _write(tmp_path / 'one', ['ref', 'a'])
    again = _write(tmp_path / 'again', ['a'])
    with pytest.raises(ConfigValueError, match='"a" is also in'):
        merge_results([first, again], str(tmp_path / 'm'))
    other = _write(tmp_path / 'other', ['b'],
                   protocol=dict(PROTOCOL, iters={'seg': 40}))
    with pytest.raises(ConfigValueError, match='protocol'):
        merge_results([first, other], str(tmp_path / 'm'))
    cfg = dict(CFG, pretrain=dict(max_iters=20, batch_size=4))
    other = _write(tmp_path / 'other2', ['b'], cfg=cfg)
    with pytest.raises(ConfigValueError, match='"pretrain" differs'):
        merge_results([first, other], str(tmp_path / 'm'))
    second = _write(tmp_path / 'two', ['b'])
    with pytest.raises(ConfigValueError, match='reference "c"'):
        merge_results([first, second], str(tmp_path / 'm'), reference='c')
    assert not (tmp_path / 'm').exists()  # nothing written on refusal


def test_merge_command_line(tmp_path, run_tool):
    first = _write(tmp_path / 'one', ['ref', 'a'])
    second = _write(tmp_path / 'two', ['b'])
    out = tmp_path / 'merged'
    res = run_tool([TOOL, first, second, '--work-dir', str(out)])
    assert res.returncode == 0, res.stderr
    assert '3 methods from 2 files' in res.stdout
    assert (out / 'results.png').is_file()
    assert TOOL in (out / 'results.md').read_text()  # regenerating command
    bad = tmp_path / 'bad.json'
    bad.write_text('{"not": "a report"}')
    res = run_tool([TOOL, first, str(bad), '--work-dir', str(out)])
    assert res.returncode == 2
    err = res.stderr.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0] and 'not a benchmark' in \
        err[0]
    missing = str(tmp_path / 'missing.json')
    res = run_tool([TOOL, first, missing, '--work-dir', str(out)])
    err = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(err) == 1 and missing in err[0]
    res = run_tool([TOOL, first, '--work-dir', str(out)])
    assert res.returncode == 2 and 'two or more' in res.stderr
