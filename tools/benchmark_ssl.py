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
folds). Finished steps are not redone: a rerun picks up where it stopped.

Example::

    python tools/benchmark_ssl.py configs/benchmark_ssl/sim_resnet18_cpu.py \
        --work-dir work_dirs/benchmark_ssl [--methods anaus byol random]
"""
import argparse
import json
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
from anaus_mm.utils.io import atomic_write_text  # noqa: E402


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
    parser.add_argument('--dry-run', action='store_true',
                        help='print the commands without running them')
    return parser.parse_args(argv)


class Benchmark:
    """Runs and collects one benchmark config."""

    def __init__(self, cfg, work_dir, launcher='none', gpus=1,
                 dry_run=False):
        self.cfg = cfg
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
        result = subprocess.run(cmd, cwd=ROOT)
        if result.returncode != 0:
            raise CLIError(f'{title} failed (exit code {result.returncode}; '
                           'command above)')
        print(f'[benchmark_ssl] {title}: {time.time() - start:.0f} s',
              flush=True)

    def pretrain(self, name, method):
        """Pre-train one method; returns the checkpoint path (None: random
        init)."""
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

    def downstream(self, name, ckpt, task_name, task):
        """Grouped k-fold on one task; returns its kfold summary."""
        kfold = self.cfg.get('kfold', dict(num_splits=5, seed=0))
        work = osp.join(self.work_dir, name, task_name)
        summary_path = osp.join(work, 'kfold_summary.json')
        if osp.isfile(summary_path):
            with open(summary_path) as f:
                summary = json.load(f)
            if len(summary['folds_done']) == kfold['num_splits']:
                print(f'[benchmark_ssl] {name}/{task_name}: done')
                return summary
        cmd = [self.python, 'tools/kfold.py', task['config'],
               '--num-splits', str(kfold['num_splits']), '--seed',
               str(kfold.get('seed', 0)), '--work-dir', work, '--resume']
        if ckpt is not None:
            cmd += ['--pretrained', ckpt]
        options = task.get('cfg_options', {})
        if options:
            cmd += ['--cfg-options'] + [f'{k}={v}' for k, v in
                                        options.items()]
        self._run(f'{name}/{task_name}: {kfold["num_splits"]}-fold', cmd)
        if self.dry_run:
            return None
        with open(summary_path) as f:
            return json.load(f)


def main_metric_table(cfg, results):
    """Markdown: one row per method, one column per task metric."""
    lines = []
    kfold = cfg.get('kfold', dict(num_splits=5, seed=0))
    tasks = cfg.downstream
    for task_name, task in tasks.items():
        metrics = task.get('metrics') or [task['main_metric']]
        lines += [f'### {task_name}: `{task["config"]}`', '',
                  f'{kfold["num_splits"]}-fold grouped CV (split seed '
                  f'{kfold.get("seed", 0)}), 1 fine-tuning seed per fold; '
                  'mean ± sample std over folds. Main metric: '
                  f'`{task["main_metric"]}` (best in bold).', '',
                  '| method | folds | ' + ' | '.join(metrics) + ' |',
                  '|---|---|' + '---|' * len(metrics)]
        rows = {m: r[task_name] for m, r in results.items()
                if r.get(task_name)}
        best = max((r['mean'].get(task['main_metric'], float('-inf'))
                    for r in rows.values()), default=None)
        for method, summary in rows.items():
            cells = []
            for metric in metrics:
                mean = summary['mean'].get(metric)
                std = summary['std'].get(metric)
                if mean is None:
                    cells.append('–')
                    continue
                text = f'{mean:.2f} ± {std:.2f}'
                if metric == task['main_metric'] and mean == best:
                    text = f'**{text}**'
                cells.append(text)
            lines.append(f'| {method} | {len(summary["folds_done"])} | ' +
                         ' | '.join(cells) + ' |')
        lines.append('')
    return '\n'.join(lines)


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
    fig.tight_layout()
    tmp = path + '.tmp.png'
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def write_results(cfg, config_path, work_dir, results, ckpts):
    payload = dict(config=config_path, kfold=cfg.get('kfold'),
                   downstream=cfg.downstream,
                   pretrain=cfg.get('pretrain'),
                   pretrain_data=cfg.pretrain_data,
                   checkpoints=ckpts, results=results)
    atomic_write_text(osp.join(work_dir, 'results.json'),
                      json.dumps(payload, indent=2))
    md = [f'# SSL benchmark: `{config_path}`', '',
          'Every method pre-trains on the same images with the same '
          f'backbone, batch and schedule ({cfg.get("pretrain")}), then runs '
          'the same downstream protocol. `random` = no pre-training.', '',
          main_metric_table(cfg, results),
          'Regenerate with `python tools/benchmark_ssl.py '
          f'{config_path} --work-dir {work_dir}`.', '']
    atomic_write_text(osp.join(work_dir, 'results.md'), '\n'.join(md))
    plot(cfg, results, osp.join(work_dir, 'results.png'))


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
    bench = Benchmark(cfg, work_dir, args.launcher, args.gpus, args.dry_run)
    results, ckpts = {}, {}
    for name, method in methods.items():
        ckpts[name] = bench.pretrain(name, method)
        results[name] = {}
        for task_name, task in cfg.downstream.items():
            results[name][task_name] = bench.downstream(
                name, ckpts[name], task_name, task)
    if args.dry_run:
        return 0
    write_results(cfg, args.config, work_dir, results, ckpts)
    print(f'[benchmark_ssl] results: {work_dir}/results.md, results.json, '
          'results.png')
    print(main_metric_table(cfg, results))
    return 0


if __name__ == '__main__':
    run_cli(main)
