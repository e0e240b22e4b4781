"""The README's first command (``make demo``): the whole ANAUS pipeline on
simulated ultrasound data, on a CPU, in minutes.

Steps (each skipped when its output exists, so a rerun is quick):

1. simulate an ultrasound set with anatomy masks and a held-out set of the
   same (target) domain (``simulate_us.py``);
2. LP-SAM stage 1 (domain adapters) and 3. stage 2 (latent prompt engine),
   "mini" SAM architecture at 128 px, starting from the simulated SAM
   stand-in shipped in ``checkpoints/`` (trained on another simulated
   domain, see ``configs/lpsam/README.md``; ``--sam-checkpoint`` to use
   another, ``none`` for random weights);
4. the LP-SAM story on the held-out images, Dice per anatomy: the stand-in
   zero-shot with ground-truth boxes, stage 1 with the same boxes, stage 2
   without prompts (``eval_lpsam.py``);
5. anatomy-mask generation on the images with LP-SAM
   (``generate_anatomy_masks.py``) and 6. unsupervised k-means masks
   (``generate_unsupervised_masks.py``);
7. ANAUS pre-training on LP-SAM's masks, on the simulator's ground-truth
   masks and on the k-means masks, and the built-in baselines, then grouped
   5-fold lesion segmentation for each (``benchmark_ssl.py``);
8. ``report.md`` and ``report.png`` (LP-SAM masks next to the simulator's
   ground truth, the story table, what mask quality buys downstream,
   downstream metrics per method) in ``--work-dir``.

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

LPSAM_STAGE1 = 'configs/lpsam/lpsam-stage1_mini_1xb4-300it_sim-128.py'
LPSAM_STAGE2 = 'configs/lpsam/lpsam-stage2_mini_1xb4-1800it_sim-128.py'
#: the simulated SAM stand-in (official SAM layout; sha256 in its .json)
SAM_STANDIN = 'checkpoints/sam-standin_mini_sim-linear-128.pth'
BENCHMARK = 'configs/benchmark_ssl/sim_resnet18_demo-cpu.py'
STEPS = 9


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data-dir', default='data/demo')
    parser.add_argument('--num', type=int, default=40,
                        help='number of simulated images (default 40)')
    parser.add_argument('--size', type=int, default=128,
                        help='image side (default 128: LP-SAM runs at 128, '
                        'the downstream configs at 64-80)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--heldout', type=int, default=20,
                        help='held-out images of the same domain for the '
                        'LP-SAM story (default 20; 0 skips the story)')
    parser.add_argument('--lpsam-iters', type=int, nargs=2,
                        default=(300, 600), metavar=('STAGE1', 'STAGE2'))
    parser.add_argument('--sam-checkpoint', default=SAM_STANDIN,
                        help='SAM weights in the official layout for LP-SAM '
                        '(the demo uses the "mini" architecture at 128 px, '
                        'so only a checkpoint of that architecture fits; '
                        f'default: the simulated stand-in {SAM_STANDIN}; '
                        '"none": random weights)')
    parser.add_argument('--methods', nargs='+',
                        default=['anaus', 'anaus_gt_masks',
                                 'anaus_unsup_masks', 'byol', 'random'],
                        help='methods of the benchmark config to compare')
    parser.add_argument('--finetune-iters', type=int, default=60,
                        help='fine-tuning iterations per downstream run '
                        '(default 60, as the options protocol)')
    parser.add_argument('--tasks', nargs='+', default=['lesion_seg'],
                        help='downstream tasks of the benchmark config '
                        '(default: lesion_seg; benign_malignant separates '
                        'nothing at 40 images, see the benchmark issue)')
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


def check_settings(args) -> None:
    """Refuse a work dir made by a demo with other settings.

    Finished steps are skipped on a rerun (their outputs exist), so outputs of
    another architecture, input size or SAM checkpoint must not be reused:
    ``demo_settings.json`` in the work dir records what made them.
    """
    import json
    settings = dict(stage1=LPSAM_STAGE1, stage2=LPSAM_STAGE2,
                    sam_checkpoint=args.sam_checkpoint, size=args.size,
                    num=args.num, seed=args.seed,
                    lpsam_iters=list(args.lpsam_iters),
                    data_dir=args.data_dir)
    path = osp.join(args.work_dir, 'demo_settings.json')
    if osp.isfile(path):
        with open(path) as f:
            old = json.load(f)
        if old != settings:
            diff = sorted(k for k in set(old) | set(settings)
                          if old.get(k) != settings.get(k))
            raise CLIError(f'{args.work_dir} holds a demo made with other '
                           f'settings ({", ".join(diff)} differ): run '
                           '"make clean-demo" or pass another --work-dir')
    elif osp.isdir(args.work_dir) and os.listdir(args.work_dir):
        raise CLIError(f'{args.work_dir} holds outputs of an earlier demo '
                       'version (no demo_settings.json): run "make '
                       'clean-demo" or pass another --work-dir')
    from anaus_mm.utils.io import atomic_write_text
    atomic_write_text(path, json.dumps(settings, indent=1) + '\n')


def main(argv=None):
    args = parse_args(argv)
    check_settings(args)
    pipe = Pipeline(args)
    py = pipe.py
    data, work = args.data_dir, args.work_dir
    os.makedirs(work, exist_ok=True)
    pipe.run(f'simulate {args.num} ultrasound images into {data}', [
        py, 'tools/dataset_converters/simulate_us.py', '--out', data,
        '--num', str(args.num), '--seed', str(args.seed), '--workers',
        str(args.workers), '--size', str(args.size)])
    heldout = data.rstrip('/') + '_heldout'
    if args.heldout:
        pipe.run(f'simulate {args.heldout} held-out images into {heldout}', [
            py, 'tools/dataset_converters/simulate_us.py', '--out', heldout,
            '--num', str(args.heldout), '--seed', str(args.seed + 1000),
            '--workers', str(args.workers), '--size', str(args.size)])
    else:
        pipe.step += 1

    data_opts = [f'{split}_dataloader.dataset.data_root={data}'
                 for split in ('train', 'val', 'test')]
    stage1 = osp.join(work, 'lpsam_stage1')
    it1, it2 = args.lpsam_iters
    sam_ckpt = None if args.sam_checkpoint.lower() == 'none' \
        else args.sam_checkpoint
    if sam_ckpt and not osp.isfile(sam_ckpt):
        raise CLIError(f'--sam-checkpoint {sam_ckpt}: no such file (the '
                       'stand-in ships with the repository; "none" runs on '
                       'random SAM weights)')
    sam = [f'model.sam_checkpoint={sam_ckpt}']
    pipe.run('LP-SAM stage 1: domain adapters (mini SAM, 128 px)', [
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

    story = osp.join(work, 'lpsam_story.json')
    if args.heldout:
        pipe.run('LP-SAM story on the held-out images (zero-shot, stage 1, '
                 'stage 2)', [
                     py, 'tools/analysis_tools/eval_lpsam.py', heldout,
                     '--run', 'zero-shot', LPSAM_STAGE1,
                     '--run', 'stage 1', LPSAM_STAGE1, stage1,
                     '--run', 'stage 2', LPSAM_STAGE2, stage2,
                     '--cfg-options', *sam, '--out', story], story)
    else:
        pipe.step += 1

    masks = osp.join(data, 'lpsam_masks')
    pipe.run('anatomy masks for every image with LP-SAM', [
        py, 'tools/generate_anatomy_masks.py', LPSAM_STAGE2,
        resolve_checkpoint(stage2), '--img-dir', osp.join(data, 'images'),
        '--out-dir', masks, '--batch-size', '8', '--num-workers', '0',
        '--show-dir', osp.join(work, 'lpsam_overlays')],
        osp.join(masks, 'summary.json'))
    kmeans = osp.join(data, 'masks_kmeans')
    pipe.run('unsupervised k-means masks (the fallback mask source)', [
        py, 'tools/generate_unsupervised_masks.py', '--img-dir',
        osp.join(data, 'images'), '--out-dir', kmeans, '--method', 'kmeans'],
        osp.join(kmeans, 'summary.json'))

    bench = osp.join(work, 'benchmark')
    pipe.run('pre-training (ANAUS on LP-SAM / ground-truth / k-means masks, '
             'baselines) and grouped 5-fold downstream', [
                 py, 'tools/benchmark_ssl.py', BENCHMARK, '--work-dir', bench,
                 '--methods', *args.methods, '--tasks', *args.tasks,
                 '--iters-per-run', str(args.finetune_iters), '--in-process',
                 '--mask-dir', 'lpsam_masks', '--data-root', data])
    pipe.step += 1
    print(f'[demo {pipe.step}/{STEPS}] report', flush=True)
    from anaus_mm.utils.demo_report import write_report
    report = write_report(data, work, bench, masks, elapsed_min=(
        time.time() - pipe.start) / 60, skipped=pipe.skipped,
        story=story if osp.isfile(story) else None, sam_checkpoint=sam_ckpt)
    print(open(osp.join(bench, 'results.md')).read())
    print(f'[demo] finished in {(time.time() - pipe.start) / 60:.1f} min: '
          f'{report} and {osp.splitext(report)[0]}.png')
    return 0


if __name__ == '__main__':
    os.chdir(ROOT)
    run_cli(main)
