"""tools/train.py and tools/test.py: training, resume, load_from, AMP
fallback, distributed CPU runs and the one-line errors of bad input."""
import glob
import json
import os
import os.path as osp
import shutil

import pytest

BYOL = 'configs/selfsup/byol_resnet18_1xb4-30it_sim-demo.py'
SEG = 'tests/data/configs/fcn_r18_tiny_seg.py'


def byol_opts(data_root, iters=2, extra=()):
    return ['--cfg-options', f'train_dataloader.dataset.data_root={data_root}',
            'train_dataloader.batch_size=2',
            f'train_cfg.max_iters={iters}', 'default_hooks.logger.interval=1',
            'default_hooks.checkpoint.interval=1', *extra]


def seg_opts(data_root, extra=()):
    return ['--cfg-options'] + [
        f'{split}_dataloader.dataset.data_root={data_root}'
        for split in ('train', 'val', 'test')] + list(extra)


def scalars(work_dir):
    """The per-iteration training scalars of the newest run in work_dir."""
    runs = sorted(glob.glob(osp.join(work_dir, '2*', 'vis_data',
                                     'scalars.json')))
    with open(runs[-1]) as f:
        rows = [json.loads(line) for line in f]
    return {row['iter']: row for row in rows if 'loss' in row}


def assert_one_line_error(result, *needles):
    assert result.returncode == 2, result.stderr[-2000:]
    assert 'Traceback' not in result.stderr
    lines = [ln for ln in result.stderr.strip().splitlines()
             if 'error:' in ln]
    assert len(lines) == 1, result.stderr[-2000:]
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_train_resume_and_load_from(sim_data_dir, run_tool, tmp_path):
    work = str(tmp_path / 'byol')
    res = run_tool(['tools/train.py', BYOL, '--work-dir', work] +
                   byol_opts(sim_data_dir, iters=2))
    assert res.returncode == 0, res.stderr[-3000:]
    assert osp.isfile(osp.join(work, 'iter_2.pth'))
    first = scalars(work)
    assert sorted(first) == [1, 2]
    # --resume (no path) continues from the latest checkpoint to iter 3
    res = run_tool(['tools/train.py', BYOL, '--work-dir', work, '--resume'] +
                   byol_opts(sim_data_dir, iters=3))
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout + res.stderr
    assert 'resumed epoch: 0, iter: 2' in out
    assert sorted(scalars(work)) == [3]
    assert osp.isfile(osp.join(work, 'iter_3.pth'))
    # load_from: a fresh run starting from the trained weights
    work2 = str(tmp_path / 'byol_load')
    res = run_tool(['tools/train.py', BYOL, '--work-dir', work2] +
                   byol_opts(sim_data_dir, iters=1, extra=[
                       f'load_from={osp.join(work, "iter_3.pth")}']))
    assert res.returncode == 0, res.stderr[-3000:]
    assert 'Load checkpoint from' in res.stdout + res.stderr
    assert sorted(scalars(work2)) == [1]


def test_seg_train_test_amp_fallback(sim_data_dir, run_tool, tmp_path):
    work = str(tmp_path / 'seg')
    res = run_tool(['tools/train.py', SEG, '--work-dir', work] +
                   seg_opts(sim_data_dir))
    assert res.returncode == 0, res.stderr[-3000:]
    # the config asks for AmpOptimWrapper: one warning, then full precision
    assert (res.stdout + res.stderr).count('AmpOptimWrapper falls back') == 1
    ckpt = osp.join(work, 'iter_2.pth')
    out_pkl = str(tmp_path / 'preds.pkl')
    show = str(tmp_path / 'show')
    res = run_tool(['tools/test.py', SEG, ckpt, '--work-dir', work, '--out',
                    out_pkl, '--show-dir', show] + seg_opts(sim_data_dir))
    assert res.returncode == 0, res.stderr[-3000:]
    assert 'mDice' in res.stdout + res.stderr
    assert osp.getsize(out_pkl) > 0
    pngs = glob.glob(osp.join(show, '**', '*.png'), recursive=True)
    assert len(pngs) == 8


def test_amp_flag_without_gpu_is_clear_error(run_tool, tmp_path):
    res = run_tool(['tools/train.py', BYOL, '--amp', '--work-dir',
                    str(tmp_path)])
    assert_one_line_error(res, '--amp needs a CUDA GPU')


def test_bad_input_errors(run_tool, tmp_path):
    res = run_tool(['tools/train.py',
                    'configs/selfsup/byol_resnet18_1xb4-30it_demo.py'])
    assert_one_line_error(res, 'config file not found',
                          'byol_resnet18_1xb4-30it_sim-demo.py')
    res = run_tool(['tools/train.py', BYOL, '--cfg-options',
                    'train_cfg.max_iter=3'])
    assert_one_line_error(res, 'train_cfg.max_iter', 'max_iters')
    res = run_tool(['tools/train.py', BYOL, '--work-dir',
                    '/proc/anaus_not_writable'])
    assert_one_line_error(res, 'work dir /proc/anaus_not_writable',
                          'not writable')
    res = run_tool(['tools/test.py', SEG, str(tmp_path / 'missing.pth')])
    assert_one_line_error(res, 'checkpoint not found', 'missing.pth')


def test_unknown_type_names_type_and_registry(sim_data_dir, run_tool,
                                              tmp_path):
    res = run_tool(['tools/train.py', BYOL, '--work-dir', str(tmp_path)] +
                   byol_opts(sim_data_dir, extra=['model.type=BYOLL']))
    assert_one_line_error(res, 'BYOLL', 'mmpretrain::model registry')


def test_default_work_dir_is_config_name():
    from anaus_mm.utils.cli import default_work_dir
    assert default_work_dir(BYOL) == osp.join(
        './work_dirs', 'byol_resnet18_1xb4-30it_sim-demo')
    assert default_work_dir('a/b/x.py', '_kfold') == osp.join(
        './work_dirs', 'x_kfold')


@pytest.mark.skipif(shutil.which('bash') is None, reason='needs bash')
def test_dist_train_two_cpu_processes(sim_data_dir, run_tool, tmp_path):
    import subprocess
    import sys
    work = str(tmp_path / 'dist')
    env = dict(os.environ, PYTHON=sys.executable, PORT='29731',
               PYTHONWARNINGS='ignore')
    res = subprocess.run(
        ['bash', 'tools/dist_train.sh', BYOL, '2', '--work-dir', work] +
        byol_opts(sim_data_dir, iters=2, extra=['log_level=DEBUG']),
        cwd=osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
        env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    logs = sorted(glob.glob(osp.join(work, '2*', '*_rank*.log')))
    assert len(logs) == 2
    for rank, log in enumerate(logs):
        assert log.endswith(f'rank{rank}.log')
        text = open(log).read()
        assert 'Iter(train) [2/2]' in text and 'loss:' in text
        assert 'Distributed launcher: pytorch' in text
    assert osp.isfile(osp.join(work, 'iter_2.pth'))
    assert open(osp.join(work, 'last_checkpoint')).read().strip().endswith(
        'iter_2.pth')
