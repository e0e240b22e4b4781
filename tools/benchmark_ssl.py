"""Benchmark ANAUS against mmpretrain's built-in SSL algorithms.

One benchmark config names the pre-training data (image folder + anatomy
masks), the methods (each a pre-training config, or ``None`` for random
init) and the downstream tasks (downstream configs). For every method the
tool

1. pre-trains with ``tools/train.py`` (``tools/dist_train.sh`` under
   ``--launcher pytorch``) on the same images, with the same batch size and
   number of iterations (the benchmark config's ``pretrain=dict(max_iters,
   batch_size)``): every method's warm-up and cosine are stretched to that
   budget and its LR scales linearly with the total batch from its
   config's ``auto_scale_lr.base_batch_size``
   (:func:`anaus_mm.engine.budget.set_pretrain_budget`);
2. runs the same grouped k-fold protocol (``tools/kfold.py``) on every
   downstream task, starting from the online backbone
   (``init_cfg=dict(type='Pretrained', prefix='backbone.')``);

then writes ``results.json`` (every fold of every run), ``results.md``
(each method's effective pre-training schedule, mean ± std per metric and
method, number of folds and seeds) and ``results.png`` (main metric per task
and method, error bars = std over runs; pre-training loss curves). Finished steps are not redone: a rerun picks up where it stopped
(down to single (method, task, label fraction, seed, fold) runs).

Label-efficiency protocol (``--label-fractions``, ``--seeds``, or the
config keys ``label_fractions``, ``seeds``): every (method, fraction, seed)
runs the grouped k-fold with ``tools/kfold.py --label-fraction F
--subset-seed S`` (the same grouped, stratified training subset for every
method; the test fold is always whole) and, for seed ``S >= 1``,
``--train-seed base+S`` (``base`` = the downstream config's
``randomness.seed``; seed 0 keeps it). ``results.md`` then has one table per
fraction, the main metric vs fraction, and the paired comparison of the
reference method (``--reference``, default ``anaus``) with every other
method: mean paired difference over the same (fold, seed) runs with a 95 %
Student-t interval (:mod:`anaus_mm.evaluation.paired_stats`).
``label_efficiency.png`` plots the main metric vs the fraction.

Fine-tuning budget (``finetune_iters=dict(task=N)`` in the config or
``--iters-per-run N``): each run trains a fixed number of iterations (see
``tools/kfold.py --iters``; epoch-based configs become iteration-based).
With ``--iters-scaling proportional`` (config ``finetune_iters_scaling``)
a run at fraction F trains ``max(finetune_min_iters, round(F * N))``
iterations, so 10 % runs take about a tenth of the time; ``fixed`` trains N
at every fraction. Without a budget the configs' own schedules run.
The logic lives in :mod:`anaus_mm.benchmark`; this file is its command line.
``--dry-run`` prints the commands, the number of runs and an estimated
time (per-iteration cost and per-run overhead measured by earlier runs in
the work dir, ``run_info.json``; else the defaults ``DEFAULT_S_PER_ITER``
and ``DEFAULT_RUN_OVERHEAD_S``).

Work-dir layout: ``WORK_DIR/<method>/pretrain``; ``WORK_DIR/<method>/<task>``
for 100 % labels, seed 0 and the config's schedule (the default protocol);
``WORK_DIR/<method>/<task>/label<F>_seed<S>[_iters<N>]`` otherwise.

Examples::

    python tools/benchmark_ssl.py configs/benchmark_ssl/sim_resnet18_demo-cpu.py \
        --work-dir work_dirs/benchmark_ssl [--methods anaus byol random]
    python tools/benchmark_ssl.py CONFIG --label-fractions 0.1 0.25 1.0 \
        --seeds 3 --iters-per-run 100 --dry-run
"""
import argparse
import os.path as osp
import shlex
import sys

import anaus_mm  # noqa: F401  (installs the compatibility fixes first)
from anaus_mm.benchmark import load_benchmark, make_protocol, run_benchmark
from anaus_mm.utils.cli import check_writable_dir, default_work_dir, run_cli


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Pre-train ANAUS and SSL baselines, compare downstream')
    parser.add_argument('config', help='benchmark config (see configs/'
                        'benchmark_ssl/)')
    parser.add_argument('--work-dir', help='default: work_dirs/<config name>')
    parser.add_argument('--methods', nargs='+',
                        help='subset of the methods of the config')
    parser.add_argument('--tasks', nargs='+',
                        help='subset of the downstream tasks of the config')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'],
                        default='none',
                        help='pytorch: pre-train with tools/dist_train.sh '
                        'on --gpus processes; slurm: run this tool inside '
                        'an srun allocation (tools/train.py reads the Slurm '
                        'environment)')
    parser.add_argument('--gpus', type=int, default=1,
                        help='processes per node for --launcher pytorch')
    parser.add_argument('--data-root',
                        help="replace the config's data_root (pre-training "
                        'data and every value of the tasks\' cfg_options '
                        'that equals it)')
    parser.add_argument('--mask-dir',
                        help='mask folder (relative to data_root) of the '
                        'methods that use the default mask source')
    parser.add_argument('--label-fractions', nargs='+', type=float,
                        metavar='F', help='fine-tune on these shares of '
                        'each training fold, e.g. 0.1 0.25 1.0 (default: '
                        "the config's label_fractions, else 1.0)")
    parser.add_argument('--seeds', type=int, metavar='N',
                        help='repeat every (method, fraction, fold) with N '
                        "subset / fine-tuning seeds (default: the config's "
                        'seeds, else 1)')
    parser.add_argument('--iters-per-run', type=int, metavar='N',
                        help='fine-tuning iterations per run for every task '
                        "(default: the config's finetune_iters, else each "
                        "downstream config's own schedule)")
    parser.add_argument('--iters-scaling', choices=['fixed', 'proportional'],
                        help='fixed: N iterations at every fraction; '
                        'proportional: max(finetune_min_iters, round(F*N)) '
                        "(default: the config's finetune_iters_scaling, else "
                        'proportional)')
    parser.add_argument('--reference', help='method compared with every '
                        'other one (default: anaus if run, else the first)')
    parser.add_argument('--in-process', action='store_true',
                        help='run tools/kfold.py inside this process (no '
                        'interpreter start per run: faster for tiny runs; '
                        'with --launcher none only)')
    parser.add_argument('--dry-run', action='store_true',
                        help='print the commands, the number of runs and '
                        'an estimated time without running anything')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg, methods = load_benchmark(
        args.config, methods=args.methods, tasks=args.tasks,
        data_root=args.data_root, mask_dir=args.mask_dir)
    work_dir = args.work_dir or default_work_dir(args.config)
    check_writable_dir(work_dir)
    protocol = make_protocol(
        cfg, methods, label_fractions=args.label_fractions, seeds=args.seeds,
        iters_per_run=args.iters_per_run, iters_scaling=args.iters_scaling,
        reference=args.reference)
    command = 'python tools/benchmark_ssl.py ' + shlex.join(
        sys.argv[1:] if argv is None else list(argv))
    results = run_benchmark(cfg, args.config, work_dir, methods, protocol,
                            launcher=args.launcher, gpus=args.gpus,
                            dry_run=args.dry_run,
                            in_process=args.in_process, command=command)
    if results is None:
        return 0
    print(f'[benchmark_ssl] results: {work_dir}/results.md, results.json, '
          'results.png' + (', label_efficiency.png'
                           if len(protocol['fractions']) > 1 else ''))
    with open(osp.join(work_dir, 'results.md')) as f:
        print(f.read())
    return 0


if __name__ == '__main__':
    run_cli(main)
