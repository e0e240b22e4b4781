"""Benchmark ANAUS against mmpretrain's built-in SSL algorithms.

One benchmark config names the pre-training data (image folder + anatomy
masks), the methods (each a pre-training config, or ``None`` for random
init) and the downstream tasks (downstream configs). For every method the
tool

1. pre-trains with ``tools/train.py`` (``tools/dist_train.sh`` under
   ``--launcher pytorch``) on the same images, with the same batch size and
   number of iterations (the benchmark config sets them for all methods);
2. runs the same grouped k-fold protocol (``tools/kfold.py``) on every
   downstream task, starting from the online backbone
   (``init_cfg=dict(type='Pretrained', prefix='backbone.')``);

then writes ``results.json`` (every fold of every run), ``results.md``
(mean ± std per metric and method, number of folds and seeds) and
``results.png`` (main metric per task and method, error bars = std over
folds). Finished steps are not redone: a rerun picks up where it stopped
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
``--dry-run`` prints the commands, the number of runs and an estimated
time (per-iteration cost and per-run overhead measured by earlier runs in
the work dir, ``run_info.json``; else the defaults ``DEFAULT_S_PER_ITER``
and ``DEFAULT_RUN_OVERHEAD_S``).

Work-dir layout: ``WORK_DIR/<method>/pretrain``; ``WORK_DIR/<method>/<task>``
for 100 % labels, seed 0 and the config's schedule (the default protocol);
``WORK_DIR/<method>/<task>/label<F>_seed<S>[_iters<N>]`` otherwise.

Examples::

    python tools/benchmark_ssl.py configs/benchmark_ssl/sim_resnet18_cpu.py \
        --work-dir work_dirs/benchmark_ssl [--methods anaus byol random]
    python tools/benchmark_ssl.py CONFIG --label-fractions 0.1 0.25 1.0 \
        --seeds 3 --iters-per-run 100 --dry-run
"""
import argparse
import glob
import json
import math
import os
import os.path as osp
import shlex
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

from anaus_mm.utils.cli import (CLIError, check_writable_dir,  # noqa: E402
                                load_config, run_cli)
from anaus_mm.evaluation.paired_stats import (mean_std,  # noqa: E402
                                               paired_difference)
from anaus_mm.utils.io import atomic_write_text  # noqa: E402

#: Dry-run estimate when the work dir has no earlier run to measure: seconds
#: per fine-tuning iteration (ResNet-18 at 64 px, batch 4-8, on a laptop CPU)
#: and per run (building, data loading, validation and test).
DEFAULT_S_PER_ITER = 0.5
DEFAULT_RUN_OVERHEAD_S = 10.0
#: Iterations per epoch assumed for an epoch-based schedule without budget.
DEFAULT_ITERS_PER_EPOCH = 10


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


class Benchmark:
    """Runs and collects one benchmark config."""

    def __init__(self, cfg, work_dir, launcher='none', gpus=1,
                 dry_run=False, in_process=False):
        self.cfg = cfg
        self.in_process = in_process and launcher == 'none'
        self._kfold = None
        self.work_dir = work_dir
        self.launcher = launcher
        self.gpus = gpus
        self.dry_run = dry_run
        self.python = sys.executable

    # -- running steps -----------------------------------------------------
    def _run(self, title, cmd):
        print(f'[benchmark_ssl] {title}\n[benchmark_ssl] $ '
              f'{shlex.join(cmd)}', flush=True)
        if self.dry_run:
            return
        start = time.time()
        if self.in_process and cmd[1:2] == ['tools/kfold.py']:
            self._run_kfold_here(cmd[2:])
            print(f'[benchmark_ssl] {title}: {time.time() - start:.0f} s',
                  flush=True)
            return
        result = subprocess.run(cmd, cwd=ROOT)
        if result.returncode != 0:
            raise CLIError(f'{title} failed (exit code {result.returncode}; '
                           'command above)')
        print(f'[benchmark_ssl] {title}: {time.time() - start:.0f} s',
              flush=True)

    def _run_kfold_here(self, argv):
        import importlib.util
        if self._kfold is None:
            spec = importlib.util.spec_from_file_location(
                'benchmark_ssl_kfold', osp.join(ROOT, 'tools', 'kfold.py'))
            self._kfold = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(self._kfold)
        cwd = os.getcwd()
        work = argv[argv.index('--work-dir') + 1]
        argv = list(argv)
        argv[argv.index('--work-dir') + 1] = osp.abspath(work)
        os.chdir(ROOT)  # like the subprocess: paths relative to the repo
        try:
            self._kfold.main(argv)
        finally:
            os.chdir(cwd)

    def pretrain(self, name, method):
        """Pre-train one method; returns the checkpoint path (None: random
        init; a method's ``checkpoint`` key: those weights, no
        pre-training)."""
        if method is not None and method.get('checkpoint'):
            return method['checkpoint']  # given weights, no pre-training
        if method is None or method.get('config') is None:
            return None
        work = osp.join(self.work_dir, name, 'pretrain')
        done = osp.join(work, 'last_checkpoint')
        if osp.isfile(done):
            with open(done) as f:
                ckpt = f.read().strip()
            if osp.isfile(ckpt):
                print(f'[benchmark_ssl] {name}: pre-training done ({ckpt})')
                return ckpt
        data = self.cfg.pretrain_data
        common = self.cfg.get('pretrain', {})
        options = {
            'train_dataloader.dataset.data_root': data['data_root'],
            'train_dataloader.dataset.img_dir': data.get('img_dir', ''),
        }
        if method.get('needs_masks'):
            mask_dir = method.get('mask_dir', data.get('mask_dir'))
            if not mask_dir:
                raise CLIError(f'method {name} needs anatomy masks: set '
                               'pretrain_data.mask_dir (or the method\'s '
                               'mask_dir) in the benchmark config')
            options['train_dataloader.dataset.mask_dir'] = mask_dir
        if 'max_iters' in common:
            options['train_cfg.max_iters'] = common['max_iters']
        if 'batch_size' in common:
            options['train_dataloader.batch_size'] = common['batch_size']
        if 'seed' in common:
            options['randomness.seed'] = common['seed']
        options.update(method.get('cfg_options', {}))
        opts = [f'{k}={v}' for k, v in options.items()]
        if self.launcher == 'pytorch':
            cmd = ['bash', 'tools/dist_train.sh', method['config'],
                   str(self.gpus)]
        else:
            cmd = [self.python, 'tools/train.py', method['config']]
            if self.launcher == 'slurm':
                cmd += ['--launcher', 'slurm']
        cmd += ['--work-dir', work, '--cfg-options'] + opts
        self._run(f'{name}: pre-training', cmd)
        if self.dry_run:
            return osp.join(work, 'latest.pth')
        with open(done) as f:
            return f.read().strip()

    def kfold_cfg(self):
        return self.cfg.get('kfold', dict(num_splits=5, seed=0))

    def downstream(self, name, ckpt, task_name, task, run):
        """Grouped k-fold on one task for one ``run`` (:class:`RunSpec`);
        returns its kfold summary (None in a dry run)."""
        kfold = self.kfold_cfg()
        work = run.work_dir(self.work_dir, name, task_name)
        summary_path = osp.join(work, 'kfold_summary.json')
        if osp.isfile(summary_path):
            with open(summary_path) as f:
                summary = json.load(f)
            if len(summary['folds_done']) == kfold['num_splits']:
                print(f'[benchmark_ssl] {name}/{task_name}{run.tag}: done')
                return summary
        cmd = [self.python, 'tools/kfold.py', task['config'],
               '--num-splits', str(kfold['num_splits']), '--seed',
               str(kfold.get('seed', 0)), '--work-dir', work, '--resume']
        if ckpt is not None:
            cmd += ['--pretrained', ckpt]
        cmd += run.kfold_args()
        options = task.get('cfg_options', {})
        if options:
            cmd += ['--cfg-options'] + [f'{k}={v}' for k, v in
                                        options.items()]
        self._run(f'{name}/{task_name}{run.tag}: {kfold["num_splits"]}-fold',
                  cmd)
        if self.dry_run:
            return None
        with open(summary_path) as f:
            return json.load(f)


class RunSpec:
    """One (label fraction, seed, iteration budget) of a task's protocol."""

    def __init__(self, fraction=1.0, seed=0, iters=None, base_seed=0):
        self.fraction = float(fraction)
        self.seed = int(seed)
        self.iters = iters
        self.base_seed = base_seed

    @property
    def legacy(self):
        """The default protocol (100 % labels, seed 0, config schedule)."""
        return self.fraction == 1 and self.seed == 0 and self.iters is None

    @property
    def tag(self):
        if self.legacy:
            return ''
        tag = f' [{frac_text(self.fraction)} labels, seed {self.seed}'
        return tag + (f', {self.iters} it]' if self.iters else ']')

    def work_dir(self, root, method, task):
        base = osp.join(root, method, task)
        if self.legacy:
            return base
        name = f'label{self.fraction:g}_seed{self.seed}'
        if self.iters is not None:
            name += f'_iters{self.iters}'
        return osp.join(base, name)

    def kfold_args(self):
        if self.legacy:
            return []
        args = ['--label-fraction', f'{self.fraction:g}', '--subset-seed',
                str(self.seed), '--no-checkpoints']
        if self.seed:
            args += ['--train-seed', str(self.base_seed + self.seed)]
        if self.iters is not None:
            args += ['--iters', str(self.iters)]
        return args


def run_iters(protocol, task_name, fraction):
    """Fine-tuning iterations of a run (None: the config's schedule)."""
    full = protocol['iters'].get(task_name)
    if full is None:
        return None
    if protocol['scaling'] == 'fixed':
        return int(full)
    return max(int(protocol['min_iters']), int(round(fraction * full)))


def frac_key(fraction):
    return f'{float(fraction):g}'


def frac_text(fraction):
    return f'{100 * float(fraction):g} %'


def pool(summaries):
    """Pool kfold summaries of several seeds: mean ± sample std of every
    metric over all (fold, seed) runs. ``summaries``: {seed: summary}."""
    runs = {}
    for seed, summary in summaries.items():
        for fold, metrics in summary['per_fold'].items():
            runs[(int(fold), int(seed))] = metrics
    keys = []
    for m in runs.values():
        keys += [k for k in m if k not in keys]
    mean, std = {}, {}
    for k in keys:
        mu, sd, n = mean_std(m.get(k) for m in runs.values())
        if n:
            mean[k], std[k] = round(mu, 4), round(sd, 4)
    return dict(
        mean=mean, std=std, n_runs=len(runs), seeds=sorted(summaries),
        folds_done=sorted({f for f, _ in runs}),
        per_fold={(str(f) if s == 0 else f'{f}_seed{s}'): m
                  for (f, s), m in sorted(runs.items())}), runs


def metric_table(task, rows, count_label, best_of=None):
    """Markdown table rows: one per method, one column per metric."""
    metrics = task.get('metrics') or [task['main_metric']]
    main = task['main_metric']
    lines = [f'| method | {count_label} | ' + ' | '.join(metrics) + ' |',
             '|---|---|' + '---|' * len(metrics)]
    best = max((r['mean'].get(main, float('-inf')) for r in rows.values()),
               default=None)
    for method, summary in rows.items():
        cells = []
        for metric in metrics:
            mean = summary['mean'].get(metric)
            std = summary['std'].get(metric)
            if mean is None:
                cells.append('–')
                continue
            text = f'{mean:.2f} ± {std:.2f}'
            if metric == main and mean == best:
                text = f'**{text}**'
            cells.append(text)
        count = summary.get('n_runs', len(summary['folds_done']))
        lines.append(f'| {method} | {count} | ' + ' | '.join(cells) + ' |')
    return lines


def main_metric_table(cfg, results):
    """Markdown: one row per method, one column per task metric."""
    lines = []
    kfold = cfg.get('kfold', dict(num_splits=5, seed=0))
    tasks = cfg.downstream
    for task_name, task in tasks.items():
        lines += [f'### {task_name}: `{task["config"]}`', '',
                  f'{kfold["num_splits"]}-fold grouped CV (split seed '
                  f'{kfold.get("seed", 0)}), 1 fine-tuning seed per fold; '
                  'mean ± sample std over folds. Main metric: '
                  f'`{task["main_metric"]}` (best in bold).', '']
        rows = {m: r[task_name] for m, r in results.items()
                if r.get(task_name)}
        lines += metric_table(task, rows, 'folds')
        lines.append('')
    return '\n'.join(lines)


def paired_rows(le, task_name, task, fractions, reference):
    """{fraction: {baseline: paired_difference(...)}} of the main metric."""
    main = task['main_metric']
    out = {}
    for fraction in fractions:
        key = frac_key(fraction)
        runs = {m: r[task_name][key]['runs'] for m, r in le.items()
                if r.get(task_name, {}).get(key)}
        if reference not in runs:
            continue
        ref = {k: v.get(main) for k, v in runs[reference].items()}
        out[key] = {
            m: paired_difference(ref, {k: v.get(main) for k, v in r.items()})
            for m, r in runs.items() if m != reference}
    return out


def paired_table(task, paired, reference):
    main = task['main_metric']
    lines = [f'`{reference}` − baseline on `{main}`: mean '
             'of the paired differences over the same (fold, seed) runs (same '
             'folds, label subsets and fine-tuning seeds) with a 95 % '
             'Student-t interval (scipy.stats.t, n − 1 degrees of freedom). '
             '**yes** = the interval excludes 0.', '',
             '| labels | baseline | pairs | difference | 95 % interval | '
             'real gap? |', '|---|---|---|---|---|---|']
    for key, per in paired.items():
        for method, st in per.items():
            if st['mean'] is None:
                continue
            if st['low'] is None:
                ci, real = '– (< 2 pairs)', '–'
            else:
                ci = f'[{st["low"]:+.2f}, {st["high"]:+.2f}]'
                real = '**yes**' if st['significant'] else 'no'
            lines.append(f'| {frac_text(key)} | {method} | {st["n"]} | '
                         f'{st["mean"]:+.2f} | {ci} | {real} |')
    return lines


def label_efficiency_md(cfg, protocol, le, paired):
    kfold = cfg.get('kfold', dict(num_splits=5, seed=0))
    fractions, seeds = protocol['fractions'], protocol['seeds']
    lines = ['## Label efficiency', '',
             f'{kfold["num_splits"]}-fold grouped CV (split seed '
             f'{kfold.get("seed", 0)}); each training fold reduced to a '
             'grouped, class-stratified subset of '
             f'{", ".join(frac_text(f) for f in fractions)} of its samples '
             '(the same subset for every method; the test fold is always '
             f'whole); {seeds} seed(s) per (method, fraction, fold) for the '
             'subset and the fine-tuning. Fine-tuning budget: '
             f'{budget_text(protocol)}. Mean ± sample std over folds × '
             'seeds; runs = folds × seeds.', '']
    for task_name, task in cfg.downstream.items():
        main = task['main_metric']
        lines += [f'### {task_name}: `{task["config"]}`', '',
                  f'Main metric `{main}` vs label fraction:', '',
                  '| method | ' + ' | '.join(frac_text(f)
                                            for f in fractions) + ' |',
                  '|---|' + '---|' * len(fractions)]
        for method, res in le.items():
            cells = []
            for f in fractions:
                r = res.get(task_name, {}).get(frac_key(f))
                m = r and r['mean'].get(main)
                cells.append('–' if m is None else
                             f'{m:.2f} ± {r["std"][main]:.2f}')
            lines.append(f'| {method} | ' + ' | '.join(cells) + ' |')
        lines.append('')
        for f in fractions:
            rows = {m: r[task_name][frac_key(f)] for m, r in le.items()
                    if r.get(task_name, {}).get(frac_key(f))}
            if not rows:
                continue
            lines += [f'#### {frac_text(f)} of the training labels', '']
            lines += metric_table(task, rows, 'runs') + ['']
        if paired.get(task_name):
            lines += ['#### Paired comparison', '']
            lines += paired_table(task, paired[task_name],
                                  protocol['reference']) + ['']
    return '\n'.join(lines)


def budget_text(protocol):
    if not protocol['iters']:
        return "each downstream config's own schedule"
    its = ', '.join(f'{t} {n}' for t, n in protocol['iters'].items())
    if protocol['scaling'] == 'fixed':
        return f'{its} iterations per run at every fraction'
    return (f'{its} iterations at 100 %, scaled with the fraction '
            f'(at least {protocol["min_iters"]})')


def plot(cfg, results, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    tasks = list(cfg.downstream.items())
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 3.6),
                             squeeze=False)
    for ax, (task_name, task) in zip(axes[0], tasks):
        metric = task['main_metric']
        names, means, stds = [], [], []
        for method, res in results.items():
            summary = res.get(task_name)
            if summary and metric in summary['mean']:
                names.append(method)
                means.append(summary['mean'][metric])
                stds.append(summary['std'].get(metric, 0.0))
        colors = ['tab:red' if n.startswith('anaus') else 'tab:gray'
                  for n in names]
        ax.bar(names, means, yerr=stds, capsize=4, color=colors)
        ax.set_title(f'{task_name} ({metric})')
        ax.tick_params(axis='x', rotation=30)
        ax.set_ylim(0, max([m + s for m, s in zip(means, stds)] + [1]) * 1.1)
    fig.suptitle('Downstream performance per pre-training method '
                 '(mean ± std over folds)', fontsize=10)
    _save(fig, path)


def _save(fig, path):
    import matplotlib.pyplot as plt
    fig.tight_layout()
    tmp = path + '.tmp.png'
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def plot_label_efficiency(cfg, protocol, le, path):
    """Main metric vs label fraction, one line per method, error bars =
    sample std over folds × seeds."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    tasks = list(cfg.downstream.items())
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.8 * len(tasks), 3.8),
                             squeeze=False)
    fractions = protocol['fractions']
    for ax, (task_name, task) in zip(axes[0], tasks):
        metric = task['main_metric']
        for method, res in le.items():
            xs, ys, es = [], [], []
            for f in fractions:
                r = res.get(task_name, {}).get(frac_key(f))
                if r and metric in r['mean']:
                    xs.append(100 * f)
                    ys.append(r['mean'][metric])
                    es.append(r['std'].get(metric, 0.0))
            if xs:
                ax.errorbar(xs, ys, yerr=es, marker='o', capsize=3,
                            label=method, lw=2.2 if method ==
                            protocol['reference'] else 1.2)
        ax.set_xscale('log')
        ax.set_xticks([100 * f for f in fractions])
        ax.set_xticklabels([frac_text(f) for f in fractions])
        ax.minorticks_off()
        ax.set_xlabel('training labels (share of each fold)')
        ax.set_title(f'{task_name} ({metric})', fontsize=10)
        ax.legend(fontsize=7)
    fig.suptitle(f'Label efficiency (mean ± std over folds × '
                 f'{protocol["seeds"]} seed(s))', fontsize=10)
    _save(fig, path)


def write_results(cfg, config_path, work_dir, results, ckpts, protocol=None,
                  le=None, runs=None, command=None):
    protocol = protocol or default_protocol()
    le = le or {}
    paired = {t: paired_rows(le, t, task, protocol['fractions'],
                             protocol['reference'])
              for t, task in cfg.downstream.items()}
    payload = dict(config=config_path, kfold=cfg.get('kfold'),
                   downstream=cfg.downstream,
                   pretrain=cfg.get('pretrain'),
                   pretrain_data=cfg.pretrain_data,
                   checkpoints=ckpts, results=results,
                   protocol=protocol,
                   label_efficiency={
                       m: {t: {k: {kk: vv for kk, vv in v.items()
                                   if kk != 'runs'}
                               for k, v in per.items()}
                           for t, per in r.items()}
                       for m, r in le.items()},
                   paired=paired, runs=runs or [])
    atomic_write_text(osp.join(work_dir, 'results.json'),
                      json.dumps(payload, indent=2))
    md = [f'# SSL benchmark: `{config_path}`', '',
          'Every method pre-trains on the same images with the same '
          f'backbone, batch and schedule ({cfg.get("pretrain")}), then runs '
          'the same downstream protocol. `random` = no pre-training.', '']
    if protocol['fractions'] == [1.0] and protocol['seeds'] == 1 and \
            not protocol['iters']:
        md.append(main_metric_table(cfg, results))
        for task_name, task in cfg.downstream.items():
            if paired[task_name]:
                md += [f'### {task_name}: paired comparison', '']
                md += paired_table(task, paired[task_name],
                                   protocol['reference']) + ['']
    else:
        md.append(label_efficiency_md(cfg, protocol, le, paired))
    command = command or ('python tools/benchmark_ssl.py '
                          f'{config_path} --work-dir {work_dir}' +
                          protocol_flags(protocol))
    md += [f'Regenerate with `{command}`.', '']
    atomic_write_text(osp.join(work_dir, 'results.md'), '\n'.join(md))
    plot(cfg, results, osp.join(work_dir, 'results.png'))
    if len(protocol['fractions']) > 1:
        plot_label_efficiency(cfg, protocol, le,
                              osp.join(work_dir, 'label_efficiency.png'))


def protocol_flags(protocol):
    if protocol['fractions'] == [1.0] and protocol['seeds'] == 1:
        return ''
    return (' --label-fractions ' + ' '.join(
        frac_key(f) for f in protocol['fractions']) +
        f' --seeds {protocol["seeds"]}')


def default_protocol():
    return dict(fractions=[1.0], seeds=1, iters={}, scaling='proportional',
                min_iters=1, reference='anaus', interval='student-t 95 %')


def make_protocol(cfg, args, methods):
    fractions = args.label_fractions or cfg.get('label_fractions') or [1.0]
    fractions = sorted({float(f) for f in fractions})
    bad = [f for f in fractions if not 0 < f <= 1]
    if bad:
        raise CLIError(f'label fractions must be in (0, 1], got {bad}')
    seeds = args.seeds if args.seeds is not None else cfg.get('seeds', 1)
    if int(seeds) < 1:
        raise CLIError(f'--seeds must be >= 1, got {seeds}')
    iters = dict(cfg.get('finetune_iters') or {})
    if args.iters_per_run is not None:
        if args.iters_per_run < 1:
            raise CLIError(f'--iters-per-run must be >= 1, got '
                           f'{args.iters_per_run}')
        iters = {t: args.iters_per_run for t in cfg.downstream}
    iters = {t: int(n) for t, n in iters.items() if t in cfg.downstream}
    scaling = args.iters_scaling or cfg.get('finetune_iters_scaling',
                                            'proportional')
    if scaling not in ('fixed', 'proportional'):
        raise CLIError(f'{args.config}: finetune_iters_scaling must be '
                       f'"fixed" or "proportional", got {scaling!r}')
    reference = args.reference or cfg.get('reference') or (
        'anaus' if 'anaus' in methods else next(iter(methods)))
    if reference not in methods:
        raise CLIError(f'--reference {reference} is not among the methods '
                       f'run: {list(methods)}')
    return dict(fractions=fractions, seeds=int(seeds), iters=iters,
                scaling=scaling,
                min_iters=int(cfg.get('finetune_min_iters', 1)),
                reference=reference, interval='student-t 95 %')


def config_seed_and_iters(task):
    """(randomness.seed, iterations of the config's schedule or None for
    epoch-based) of a downstream config; (0, None) if it cannot load."""
    from mmengine.config import Config
    try:
        cfg = Config.fromfile(osp.join(ROOT, task['config'])
                              if not osp.isabs(task['config'])
                              else task['config'])
    except Exception:  # reported by tools/kfold.py when it runs
        return 0, None, None
    seed = (cfg.get('randomness') or {}).get('seed') or 0
    train = cfg.get('train_cfg') or {}
    return seed, train.get('max_iters'), train.get('max_epochs')


def measured_costs(work_dir):
    """{task: (s_per_iter, overhead_s, n)} from earlier ``run_info.json``."""
    costs = {}
    for path in glob.glob(osp.join(work_dir, '*', '*', '**', 'fold_*',
                                   'run_info.json'), recursive=True):
        rel = osp.relpath(path, work_dir).split(os.sep)
        try:
            with open(path) as f:
                info = json.load(f)
            per_iter = info['train_s'] / max(info['iters'], 1)
            overhead = max(info['total_s'] - info['train_s'], 0.0)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        costs.setdefault(rel[1], []).append((per_iter, overhead))
    out = {}
    for task, vals in costs.items():
        per = sorted(v[0] for v in vals)
        over = sorted(v[1] for v in vals)
        out[task] = (per[len(per) // 2], over[len(over) // 2], len(vals))
    return out


def estimate(bench, methods, protocol, plans):
    """Print the number of runs and an estimated time of what is left."""
    kfold = bench.kfold_cfg()
    costs = measured_costs(bench.work_dir)
    todo = done = 0
    seconds = 0.0
    for (name, task_name, run), (iters, epochs) in plans.items():
        work = run.work_dir(bench.work_dir, name, task_name)
        for fold in range(kfold['num_splits']):
            if osp.isfile(osp.join(work, f'fold_{fold}', 'metrics.json')):
                done += 1
                continue
            todo += 1
            per_iter, overhead, _ = costs.get(
                task_name, (DEFAULT_S_PER_ITER, DEFAULT_RUN_OVERHEAD_S, 0))
            n_iters = run.iters or iters or math.ceil(
                (epochs or 1) * DEFAULT_ITERS_PER_EPOCH * run.fraction)
            seconds += overhead + per_iter * n_iters
    pre = [n for n, m in methods.items() if m and m.get('config') and
           not osp.isfile(osp.join(bench.work_dir, n, 'pretrain',
                                   'last_checkpoint'))]
    pre_s = len(pre) * bench.cfg.get('pretrain', {}).get('max_iters', 0) * \
        DEFAULT_S_PER_ITER
    source = ', '.join(f'{t}: {c[0]:.2f} s/iter + {c[1]:.0f} s per run '
                       f'(median of {c[2]} earlier runs)'
                       for t, c in costs.items()) or (
        f'default {DEFAULT_S_PER_ITER} s/iter + {DEFAULT_RUN_OVERHEAD_S:.0f}'
        ' s per run (no earlier runs in the work dir)')
    print(f'[benchmark_ssl] dry run: {todo} fine-tuning runs to do '
          f'({done} already done) = {len(methods)} methods x '
          f'{len(bench.cfg.downstream)} tasks x {len(protocol["fractions"])}'
          f' fractions x {protocol["seeds"]} seeds x {kfold["num_splits"]} '
          f'folds; {len(pre)} pre-trainings to do', flush=True)
    print(f'[benchmark_ssl] estimated time: {(seconds + pre_s) / 60:.1f} '
          f'min (fine-tuning {seconds / 60:.1f} min from {source}; '
          f'pre-training {pre_s / 60:.1f} min at {DEFAULT_S_PER_ITER} '
          's/iter)', flush=True)
    return todo, seconds + pre_s


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config)
    for key in ('pretrain_data', 'methods', 'downstream'):
        if key not in cfg:
            raise CLIError(f'{args.config} has no "{key}" entry (see '
                           'configs/benchmark_ssl/ for the format)')
    if args.data_root:
        old = cfg.pretrain_data['data_root']
        cfg.pretrain_data['data_root'] = args.data_root
        for task in cfg.downstream.values():
            options = task.setdefault('cfg_options', {})
            for key, value in options.items():
                if value == old:
                    options[key] = args.data_root
    if args.mask_dir:
        cfg.pretrain_data['mask_dir'] = args.mask_dir
    work_dir = args.work_dir or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0])
    check_writable_dir(work_dir)
    methods = dict(cfg.methods)
    if args.methods:
        unknown = [m for m in args.methods if m not in methods]
        if unknown:
            raise CLIError(f'unknown method(s) {unknown}; the config has '
                           f'{list(methods)}')
        methods = {m: methods[m] for m in args.methods}
    if args.tasks:
        unknown = [t for t in args.tasks if t not in cfg.downstream]
        if unknown:
            raise CLIError(f'unknown task(s) {unknown}; the config has '
                           f'{list(cfg.downstream)}')
        cfg.downstream = {t: cfg.downstream[t] for t in args.tasks}
    protocol = make_protocol(cfg, args, methods)
    task_info = {t: config_seed_and_iters(task)
                 for t, task in cfg.downstream.items()}
    specs = {t: [RunSpec(f, s, run_iters(protocol, t, f), task_info[t][0])
                 for f in protocol['fractions']
                 for s in range(protocol['seeds'])]
             for t in cfg.downstream}
    bench = Benchmark(cfg, work_dir, args.launcher, args.gpus, args.dry_run,
                      args.in_process)
    if args.dry_run:
        plans = {(n, t, r): task_info[t][1:] for n in methods
                 for t in cfg.downstream for r in specs[t]}
        estimate(bench, methods, protocol, plans)
    results, ckpts, le, runs = {}, {}, {}, []
    top = protocol['fractions'][-1]
    for name, method in methods.items():
        ckpts[name] = bench.pretrain(name, method)
        results[name], le[name] = {}, {}
        for task_name, task in cfg.downstream.items():
            le[name][task_name] = {}
            for fraction in protocol['fractions']:
                per_seed = {}
                for run in specs[task_name]:
                    if run.fraction != fraction:
                        continue
                    summary = bench.downstream(name, ckpts[name], task_name,
                                               task, run)
                    if summary is None:
                        continue
                    per_seed[run.seed] = summary
                    work = run.work_dir(work_dir, name, task_name)
                    for fold, metrics in summary['per_fold'].items():
                        runs.append(dict(
                            method=name, task=task_name,
                            label_fraction=fraction, seed=run.seed,
                            fold=int(fold), iters=run.iters,
                            work_dir=osp.join(work, f'fold_{fold}'),
                            metrics=metrics))
                if not per_seed:
                    continue
                pooled, by_run = pool(per_seed)
                pooled['runs'] = {f'{f}/{s}': m
                                  for (f, s), m in by_run.items()}
                le[name][task_name][frac_key(fraction)] = pooled
                if fraction == top:
                    results[name][task_name] = (
                        dict(per_seed[0], n_runs=pooled['n_runs'])
                        if len(per_seed) == 1 and 0 in per_seed
                        else {k: v for k, v in pooled.items()
                              if k != 'runs'})
    if args.dry_run:
        return 0
    command = 'python tools/benchmark_ssl.py ' + shlex.join(
        sys.argv[1:] if argv is None else list(argv))
    write_results(cfg, args.config, work_dir, results, ckpts, protocol, le,
                  runs, command=command)
    print(f'[benchmark_ssl] results: {work_dir}/results.md, results.json, '
          'results.png' + (', label_efficiency.png'
                           if len(protocol['fractions']) > 1 else ''))
    print(open(osp.join(work_dir, 'results.md')).read())
    return 0


if __name__ == '__main__':
    run_cli(main)
