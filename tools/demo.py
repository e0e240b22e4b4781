"""The README's first command (``make demo``): the whole ANAUS pipeline on
simulated ultrasound data, on a CPU, in minutes.

Steps (each skipped when its output exists, so a rerun is quick):

1. simulate an ultrasound set with anatomy masks (``simulate_us.py``);
2. LP-SAM stage 1 (domain adapters) and 3. stage 2 (latent prompt engine),
   tiny SAM architecture, random SAM weights unless ``--sam-checkpoint``;
4. anatomy-mask generation on the images with LP-SAM
   (``generate_anatomy_masks.py``);
5. ANAUS pre-training on LP-SAM's masks and the built-in baselines, then
   grouped 5-fold lesion segmentation and benign/malignant classification
   for each (``benchmark_ssl.py``);
6. ``report.md`` and ``report.png`` (LP-SAM masks next to the simulator's
   ground truth, downstream metrics per method) in ``--work-dir``.

Every step runs the public tool a user would run; commands are printed
before they start. Schedules are short: the numbers show that the pipeline
works end to end, not what the method reaches with a real budget.
"""
import argparse
import os
import os.path as osp
import shlex
import subprocess
import sys
import time

from anaus_mm.utils.checkpoint import resolve_checkpoint
from anaus_mm.utils.cli import CLIError, run_cli

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

LPSAM_STAGE1 = 'configs/lpsam/lpsam-stage1_tiny_1xb2-20it_sim-demo.py'
LPSAM_STAGE2 = 'configs/lpsam/lpsam-stage2_tiny_1xb2-20it_sim-demo.py'
BENCHMARK = 'configs/benchmark_ssl/sim_resnet18_demo-cpu.py'
STEPS = 6


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data-dir', default='data/demo')
    parser.add_argument('--num', type=int, default=40,
                        help='number of simulated images (default 40)')
    parser.add_argument('--size', type=int, default=256)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--lpsam-iters', type=int, nargs=2,
                        default=(300, 600), metavar=('STAGE1', 'STAGE2'))
    parser.add_argument('--sam-checkpoint',
                        help='official SAM weights for LP-SAM (the demo '
                        'uses the tiny architecture, so only a checkpoint '
                        'of that architecture fits; default: random init)')
    parser.add_argument('--methods', nargs='+',
                        default=['anaus', 'byol', 'random'],
                        help='methods of the benchmark config to compare')
    return parser.parse_args(argv)


class Pipeline:

    def __init__(self, args):
        self.args = args
        self.py = sys.executable
        self.step = 0
        self.skipped = 0
        self.start = time.time()

    def run(self, title, cmd, done_marker=None):
        self.step += 1
        head = f'[demo {self.step}/{STEPS}] {title}'
        if done_marker and osp.exists(done_marker):
            print(f'{head}: already done ({done_marker}), skipped',
                  flush=True)
            self.skipped += 1
            return
        print(f'{head}\n[demo] $ {shlex.join(cmd)}', flush=True)
        start = time.time()
        result = subprocess.run(cmd, cwd=ROOT)
        if result.returncode != 0:
            raise CLIError(f'step "{title}" failed with exit code '
                           f'{result.returncode} (command above)')
        print(f'{head}: done in {time.time() - start:.0f} s (total '
              f'{(time.time() - self.start) / 60:.1f} min)', flush=True)


def main(argv=None):
    args = parse_args(argv)
    pipe = Pipeline(args)
    py = pipe.py
    data, work = args.data_dir, args.work_dir
    os.makedirs(work, exist_ok=True)
    pipe.run(f'simulate {args.num} ultrasound images into {data}', [
        py, 'tools/dataset_converters/simulate_us.py', '--out', data,
        '--num', str(args.num), '--seed', str(args.seed), '--workers',
        str(args.workers), '--size', str(args.size)])

    data_opts = [f'{split}_dataloader.dataset.data_root={data}'
                 for split in ('train', 'val', 'test')]
    stage1 = osp.join(work, 'lpsam_stage1')
    it1, it2 = args.lpsam_iters
    sam = [f'model.sam_checkpoint={args.sam_checkpoint}'] \
        if args.sam_checkpoint else []
    pipe.run('LP-SAM stage 1: domain adapters (tiny SAM)', [
        py, 'tools/train.py', LPSAM_STAGE1, '--work-dir', stage1,
        '--cfg-options', *data_opts, f'train_cfg.max_iters={it1}',
        f'train_cfg.val_interval={it1}', *sam],
        osp.join(stage1, 'last_checkpoint'))
    stage2 = osp.join(work, 'lpsam_stage2')
    pipe.run('LP-SAM stage 2: latent prompt engine', [
        py, 'tools/train.py', LPSAM_STAGE2, '--work-dir', stage2,
        '--cfg-options', *data_opts, f'train_cfg.max_iters={it2}',
        f'train_cfg.val_interval={it2}',
        f'model.stage1_checkpoint={resolve_checkpoint(stage1)}'
        if osp.isdir(stage1) else 'model.stage1_checkpoint=None'],
        osp.join(stage2, 'last_checkpoint'))

    masks = osp.join(data, 'lpsam_masks')
    pipe.run('anatomy masks for every image with LP-SAM', [
        py, 'tools/generate_anatomy_masks.py', LPSAM_STAGE2,
        resolve_checkpoint(stage2), '--img-dir', osp.join(data, 'images'),
        '--out-dir', masks, '--batch-size', '8', '--num-workers', '0',
        '--show-dir', osp.join(work, 'lpsam_overlays')],
        osp.join(masks, 'summary.json'))

    bench = osp.join(work, 'benchmark')
    pipe.run('pre-training (ANAUS on LP-SAM masks, baselines) and grouped '
             '5-fold downstream', [
                 py, 'tools/benchmark_ssl.py', BENCHMARK, '--work-dir', bench,
                 '--methods', *args.methods, '--mask-dir', 'lpsam_masks',
                 '--data-root', data])
    pipe.step += 1
    print(f'[demo {pipe.step}/{STEPS}] report', flush=True)
    from anaus_mm.utils.demo_report import write_report
    report = write_report(data, work, bench, masks, elapsed_min=(
        time.time() - pipe.start) / 60, skipped=pipe.skipped)
    print(open(osp.join(bench, 'results.md')).read())
    print(f'[demo] finished in {(time.time() - pipe.start) / 60:.1f} min: '
          f'{report} and {osp.splitext(report)[0]}.png')
    return 0


if __name__ == '__main__':
    os.chdir(ROOT)
    run_cli(main)
