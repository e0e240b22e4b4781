"""The README's first command (``make demo``): the pipeline on simulated data.

Steps (each skipped when its output already exists, so a rerun is quick):

1. simulate a small ultrasound set with anatomy masks into ``--data-dir``
   (``tools/dataset_converters/simulate_us.py``);
2. self-supervised pre-training on it through ``tools/train.py``.

Every step runs the same public tool a user would run; the commands are
printed before they start.
"""
import argparse
import os
import os.path as osp
import shlex
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

from anaus_mm.utils.cli import CLIError, run_cli  # noqa: E402

PRETRAIN_CONFIG = 'configs/selfsup/byol_resnet18_demo-cpu.py'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data-dir', default='data/demo')
    parser.add_argument('--num', type=int, default=24,
                        help='number of simulated images')
    parser.add_argument('--size', type=int, default=256)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--pretrain-iters', type=int, default=20)
    return parser.parse_args(argv)


def run_step(title, cmd, done_marker):
    """Run one pipeline step unless ``done_marker`` exists."""
    if done_marker and osp.exists(done_marker):
        print(f'[demo] {title}: already done ({done_marker}), skipped',
              flush=True)
        return
    print(f'[demo] {title}\n[demo] $ {shlex.join(cmd)}', flush=True)
    start = time.time()
    result = subprocess.run(cmd, cwd=ROOT)
    if result.returncode != 0:
        raise CLIError(f'step "{title}" failed with exit code '
                       f'{result.returncode} (command above)')
    print(f'[demo] {title}: done in {time.time() - start:.0f} s', flush=True)


def main(argv=None):
    args = parse_args(argv)
    py = sys.executable
    data_dir = args.data_dir
    run_step(
        f'1/2 simulate {args.num} ultrasound images into {data_dir}', [
            py, 'tools/dataset_converters/simulate_us.py', '--out', data_dir,
            '--num', str(args.num), '--seed', str(args.seed), '--workers',
            str(args.workers), '--size', str(args.size)
        ], None)  # the simulator itself resumes / skips finished images
    pretrain_dir = osp.join(args.work_dir, 'pretrain')
    run_step(
        '2/2 self-supervised pre-training', [
            py, 'tools/train.py', PRETRAIN_CONFIG, '--work-dir', pretrain_dir,
            '--cfg-options', f'train_dataloader.dataset.data_root={data_dir}',
            f'train_cfg.max_iters={args.pretrain_iters}'
        ], osp.join(pretrain_dir, f'iter_{args.pretrain_iters}.pth'))
    print(f'[demo] finished: checkpoints and logs in {pretrain_dir}')
    return 0


if __name__ == '__main__':
    os.chdir(ROOT)
    run_cli(main)
