"""Runs one SSL benchmark config: pre-training, k-fold fine-tuning, report.

For every method the :class:`Benchmark`

1. pre-trains with ``tools/train.py`` (``tools/dist_train.sh`` under
   ``launcher='pytorch'``) on the same images, for the same number of
   iterations at the same batch (``pretrain=dict(max_iters, batch_size)`` of
   the benchmark config, applied by :func:`~anaus_mm.engine.budget.
   set_pretrain_budget`: schedules stretched to the budget, LR scaled with
   the total batch);
2. runs the grouped k-fold protocol (:func:`~anaus_mm.benchmark.kfold.
   run_kfold`) on every downstream task and (label fraction, seed) of the
   protocol, starting from the online backbone;

and :func:`run_benchmark` writes the report (:mod:`.report`). Finished
steps are not redone: a rerun picks up where it stopped, down to single
(method, task, label fraction, seed, fold) runs.
"""
import glob
import json
import math
import os
import os.path as osp
import shlex
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional, Tuple

from mmengine.config import Config

from ..utils.errors import AnausError, ConfigValueError
from .kfold import run_kfold
from .protocol import RunSpec, frac_key, make_protocol, run_iters
from .report import pool, read_loss_curve, write_results

__all__ = ['Benchmark', 'run_benchmark', 'estimate', 'REPO_ROOT']

#: The checkout the package is installed from (``pip install -e .``): the
#: benchmark runs its ``tools/train.py`` and resolves relative config paths
#: there.
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

#: Dry-run estimate when the work dir has no earlier run to measure: seconds
#: per fine-tuning iteration (ResNet-18 at 64 px, batch 4-8, on a laptop CPU)
#: and per run (building, data loading, validation and test).
DEFAULT_S_PER_ITER = 0.5
DEFAULT_RUN_OVERHEAD_S = 10.0
#: Iterations per epoch assumed for an epoch-based schedule without budget.
DEFAULT_ITERS_PER_EPOCH = 10


class StepFailedError(AnausError, RuntimeError):
    """A pre-training or fine-tuning subprocess exited with an error."""


def _repo_path(path: str) -> str:
    return path if osp.isabs(path) else osp.join(REPO_ROOT, path)


class Benchmark:
    """Runs the steps of one benchmark config.

    Args:
        cfg (Config): The benchmark config (``pretrain_data``, ``pretrain``,
            ``methods``, ``downstream``, ``kfold``).
        work_dir (str): Output folder.
        launcher (str): ``'none'``, ``'pytorch'`` or ``'slurm'``.
        gpus (int): Processes per node for ``launcher='pytorch'``.
        dry_run (bool): Print the commands, run nothing.
        in_process (bool): Run the k-folds in this process (no interpreter
            start per run; ``launcher='none'`` only).
    """

    def __init__(self, cfg: Config, work_dir: str, launcher: str = 'none',
                 gpus: int = 1, dry_run: bool = False,
                 in_process: bool = False) -> None:
        self.cfg = cfg
        self.in_process = in_process and launcher == 'none'
        self.work_dir = work_dir
        self.launcher = launcher
        self.gpus = gpus
        self.dry_run = dry_run
        self.python = sys.executable

    @property
    def world_size(self) -> int:
        """Processes of a pre-training (for the total batch)."""
        if self.launcher == 'pytorch':
            return self.gpus
        if self.launcher == 'slurm':
            return int(os.environ.get('SLURM_NTASKS', 1))
        return 1

    # -- running steps -----------------------------------------------------
    def _run(self, title: str, cmd: List[str]) -> None:
        print(f'[benchmark_ssl] {title}\n[benchmark_ssl] $ '
              f'{shlex.join(cmd)}', flush=True)
        if self.dry_run:
            return
        start = time.time()
        result = subprocess.run(cmd, cwd=REPO_ROOT)
        if result.returncode != 0:
            raise StepFailedError(f'{title} failed (exit code '
                                  f'{result.returncode}; command above)')
        print(f'[benchmark_ssl] {title}: {time.time() - start:.0f} s',
              flush=True)

    def pretrain_options(self, name: str, method: dict,
                         seed: Optional[int] = None) -> Dict[str, object]:
        """The ``--cfg-options`` of a method's pre-training (``seed``: a
        pre-training seed of ``pretrain_seeds``, overriding
        ``pretrain.seed``)."""
        data = self.cfg.pretrain_data
        options = {
            'train_dataloader.dataset.data_root': data['data_root'],
            'train_dataloader.dataset.img_dir': data.get('img_dir', ''),
        }
        if method.get('needs_masks'):
            mask_dir = method.get('mask_dir', data.get('mask_dir'))
            if not mask_dir:
                raise ConfigValueError(
                    f"method {name} needs anatomy masks: set pretrain_data."
                    "mask_dir (or the method's mask_dir) in the benchmark "
                    'config')
            options['train_dataloader.dataset.mask_dir'] = mask_dir
        common = self.cfg.get('pretrain', {})
        if 'seed' in common:
            options['randomness.seed'] = common['seed']
        if seed is not None:
            options['randomness.seed'] = int(seed)
        options.update(method.get('cfg_options', {}))
        return options

    def budget_args(self) -> List[str]:
        """``tools/train.py`` flags of the common pre-training budget."""
        common = self.cfg.get('pretrain', {})
        args = []
        if 'max_iters' in common:
            args += ['--max-iters', str(common['max_iters'])]
        if 'batch_size' in common:
            args += ['--batch-size', str(common['batch_size'])]
        if args and common.get('scale_lr', True):
            args.append('--auto-scale-lr')
        return args

    def pretrain_config(self, name: str, method: dict) -> Config:
        """The config a method's pre-training runs (options and budget
        applied as ``tools/train.py`` applies them)."""
        from ..engine.budget import set_pretrain_budget
        from ..utils.cli import load_config
        cfg = load_config(_repo_path(method['config']),
                          self.pretrain_options(name, method))
        common = self.cfg.get('pretrain', {})
        if 'max_iters' in common:
            set_pretrain_budget(cfg, common['max_iters'],
                                common.get('batch_size'),
                                scale_lr=common.get('scale_lr', True))
        return cfg

    def schedule(self, name: str, method: Optional[dict]) -> Optional[dict]:
        """Effective schedule of a method's pre-training (None without)."""
        from ..engine.budget import schedule_summary
        if method is None or method.get('config') is None or \
                method.get('checkpoint'):
            return None
        return schedule_summary(self.pretrain_config(name, method),
                                self.world_size)

    def pretrain(self, name: str, method: Optional[dict],
                 seed: Optional[int] = None) -> Optional[str]:
        """Pre-train one method; returns the checkpoint path (None: random
        init; a method's ``checkpoint`` key: those weights, no
        pre-training). ``name`` is the method's folder under the work dir
        (``<method>/pretrain_seed<S>`` with ``pretrain_seeds``); ``seed``
        overrides the pre-training seed."""
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
        opts = [f'{k}={v}' for k, v in
                self.pretrain_options(name, method, seed).items()]
        if self.launcher == 'pytorch':
            cmd = ['bash', 'tools/dist_train.sh', method['config'],
                   str(self.gpus)]
        else:
            cmd = [self.python, 'tools/train.py', method['config']]
            if self.launcher == 'slurm':
                cmd += ['--launcher', 'slurm']
        cmd += ['--work-dir', osp.abspath(work)] + self.budget_args()
        cmd += ['--cfg-options'] + opts
        self._run(f'{name}: pre-training', cmd)
        if self.dry_run:
            return osp.join(work, 'latest.pth')
        with open(done) as f:
            return f.read().strip()

    def kfold_cfg(self) -> dict:
        """``num_splits`` and ``seed`` of the split."""
        return self.cfg.get('kfold', dict(num_splits=5, seed=0))

    def downstream(self, name: str, ckpt: Optional[str], task_name: str,
                   task: dict, run: RunSpec) -> Optional[dict]:
        """Grouped k-fold on one task for one ``run``; returns its kfold
        summary (None in a dry run)."""
        kfold = self.kfold_cfg()
        work = osp.abspath(run.work_dir(self.work_dir, name, task_name))
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
            cmd += ['--pretrained', osp.abspath(ckpt)]
        cmd += run.kfold_args()
        options = task.get('cfg_options', {})
        if options:
            cmd += ['--cfg-options'] + [f'{k}={v}' for k, v in
                                        options.items()]
        title = f'{name}/{task_name}{run.tag}: {kfold["num_splits"]}-fold'
        if self.in_process and not self.dry_run:
            print(f'[benchmark_ssl] {title} (in process)', flush=True)
            start = time.time()
            self._kfold_here(task, work, ckpt, run)
            print(f'[benchmark_ssl] {title}: {time.time() - start:.0f} s',
                  flush=True)
        else:
            self._run(title, cmd)
        if self.dry_run:
            return None
        with open(summary_path) as f:
            return json.load(f)

    def _kfold_here(self, task: dict, work: str, ckpt: Optional[str],
                    run: RunSpec) -> None:
        from ..utils.cli import load_config
        kfold = self.kfold_cfg()
        cwd = os.getcwd()
        os.chdir(REPO_ROOT)  # like the subprocess: paths relative to repo
        try:
            cfg = load_config(task['config'], task.get('cfg_options') or None)
            train_seed = run.base_seed + run.seed if run.seed else None
            run_kfold(cfg, work, task['config'],
                      num_splits=kfold['num_splits'],
                      seed=kfold.get('seed', 0), resume=True,
                      label_fraction=run.fraction, subset_seed=run.seed,
                      train_seed=train_seed, iters=run.iters,
                      pretrained=osp.abspath(ckpt) if ckpt else None,
                      no_checkpoints=not run.legacy)
        finally:
            os.chdir(cwd)


def config_seed_and_iters(task: dict) -> Tuple[int, Optional[int],
                                               Optional[int]]:
    """(randomness.seed, max_iters, max_epochs) of a downstream config;
    (0, None, None) if it cannot load (the k-fold run reports why)."""
    try:
        cfg = Config.fromfile(_repo_path(task['config']))
    except Exception:
        return 0, None, None
    seed = (cfg.get('randomness') or {}).get('seed') or 0
    train = cfg.get('train_cfg') or {}
    return seed, train.get('max_iters'), train.get('max_epochs')


def measured_costs(work_dir: str) -> Dict[str, Tuple[float, float, int]]:
    """{task: (s_per_iter, overhead_s, n)} from earlier ``run_info.json``."""
    costs = {}
    for path in glob.glob(osp.join(work_dir, '*', '*', '**', 'fold_*',
                                   'run_info.json'), recursive=True):
        rel = osp.relpath(path, work_dir).split(os.sep)
        if rel[1].startswith('pretrain_seed'):  # <method>/pretrain_seed<S>
            rel = rel[:1] + rel[2:]
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


def estimate(bench: Benchmark, methods: dict, protocol: dict,
             plans: dict) -> Tuple[int, float]:
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
    pre = [p for n, m in methods.items()
           for p, _ in pretrain_variants(n, m, protocol)
           if m and m.get('config') and not m.get('checkpoint') and
           not osp.isfile(osp.join(bench.work_dir, p, 'pretrain',
                                   'last_checkpoint'))]
    pre_s = len(pre) * bench.cfg.get('pretrain', {}).get('max_iters', 0) * \
        DEFAULT_S_PER_ITER
    source = ', '.join(f'{t}: {c[0]:.2f} s/iter + {c[1]:.0f} s per run '
                       f'(median of {c[2]} earlier runs)'
                       for t, c in costs.items()) or (
        f'default {DEFAULT_S_PER_ITER} s/iter + {DEFAULT_RUN_OVERHEAD_S:.0f}'
        ' s per run (no earlier runs in the work dir)')
    variants = sum(len(pretrain_variants(n, m, protocol))
                   for n, m in methods.items())
    who = (f'{variants} (method, pre-training seed) pairs'
           if protocol.get('pretrain_seeds') else f'{len(methods)} methods')
    print(f'[benchmark_ssl] dry run: {todo} fine-tuning runs to do '
          f'({done} already done) = {who} x '
          f'{len(bench.cfg.downstream)} tasks x {len(protocol["fractions"])}'
          f' fractions x {protocol["seeds"]} seeds x {kfold["num_splits"]} '
          f'folds; {len(pre)} pre-trainings to do', flush=True)
    print(f'[benchmark_ssl] estimated time: {(seconds + pre_s) / 60:.1f} '
          f'min (fine-tuning {seconds / 60:.1f} min from {source}; '
          f'pre-training {pre_s / 60:.1f} min at {DEFAULT_S_PER_ITER} '
          's/iter)', flush=True)
    if bench.cfg.get('probes'):
        print(f'[benchmark_ssl] plus {len(bench.cfg.probes)} probe(s) of '
              f'{variants} backbones (anatomy probe: ~1 min each for a '
              'ResNet-18 on 240 images at 128 px, 2 CPU cores)', flush=True)
    return todo, seconds + pre_s


def check_equal_footing(schedules: Dict[str, dict]) -> None:
    """Refuse a benchmark whose pre-trainings would see different numbers
    of images (e.g. a method's ``cfg_options`` changed its batch size)."""
    seen = {n: s['images_seen'] for n, s in schedules.items()}
    if len(set(seen.values())) > 1:
        raise ConfigValueError(
            'the methods would pre-train on different numbers of images ('
            + ', '.join(f'{n}: {v}' for n, v in seen.items()) + '); set '
            "the budget in the benchmark config's pretrain=dict(max_iters, "
            "batch_size), not in a method's cfg_options")


def select(cfg: Config, methods: Optional[List[str]] = None,
           tasks: Optional[List[str]] = None, data_root: Optional[str] = None,
           mask_dir: Optional[str] = None) -> Dict[str, Optional[dict]]:
    """Check a benchmark config and apply the selections; returns the
    methods to run (``cfg.downstream`` is narrowed in place)."""
    for key in ('pretrain_data', 'methods', 'downstream'):
        if key not in cfg:
            raise ConfigValueError(f'the benchmark config has no "{key}" '
                                   'entry (see configs/benchmark_ssl/ for '
                                   'the format)')
    if data_root:
        old = cfg.pretrain_data['data_root']
        cfg.pretrain_data['data_root'] = data_root
        for task in cfg.downstream.values():
            options = task.setdefault('cfg_options', {})
            for key, value in options.items():
                if value == old:
                    options[key] = data_root
    if mask_dir:
        cfg.pretrain_data['mask_dir'] = mask_dir
    all_methods = dict(cfg.methods)
    if methods:
        unknown = [m for m in methods if m not in all_methods]
        if unknown:
            raise ConfigValueError(f'unknown method(s) {unknown}; the config '
                                   f'has {list(all_methods)}')
        all_methods = {m: all_methods[m] for m in methods}
    if tasks:
        unknown = [t for t in tasks if t not in cfg.downstream]
        if unknown:
            raise ConfigValueError(f'unknown task(s) {unknown}; the config '
                                   f'has {list(cfg.downstream)}')
        cfg.downstream = {t: cfg.downstream[t] for t in tasks}
    return all_methods


def pretrain_variants(name: str, method: Optional[dict],
                      protocol: dict) -> List[Tuple[str, Optional[int]]]:
    """The pre-trainings of a method: ``[(folder, seed)]``.

    Without ``pretrain_seeds`` in the protocol: ``[(name, None)]`` (the
    folder ``WORK_DIR/<name>``, the config's ``pretrain.seed``). With
    ``pretrain_seeds=[0, 1, ...]``: one pre-training per seed in
    ``WORK_DIR/<name>/pretrain_seed<S>``, each followed by its own
    downstream runs. A method that does not pre-train (random init, a
    given ``checkpoint``) has a single variant, ``(name, None)``.
    """
    seeds = protocol.get('pretrain_seeds')
    if not seeds or method is None or method.get('config') is None or \
            method.get('checkpoint'):
        return [(name, None)]
    return [(osp.join(name, f'pretrain_seed{s}'), int(s)) for s in seeds]


def run_key(seed: int, pretrain_seed: Optional[int]) -> object:
    """The key of a (fine-tuning seed, pre-training seed) in pooled runs:
    the seed itself without pre-training seeds, else
    ``'<seed>_pretrain<S>'``."""
    return seed if pretrain_seed is None else f'{seed}_pretrain{pretrain_seed}'


def replicate_for_pairing(runs: Dict[str, dict],
                          protocol: dict) -> Dict[str, dict]:
    """Runs of a method without pre-training (random init, given weights)
    under every pre-training seed's key, so that each is paired with the
    run of the same (fold, seed) of every pre-training seed of the other
    methods. (Its pooled statistics use the runs once.)"""
    seeds = protocol.get('pretrain_seeds')
    if not seeds:
        return runs
    out = {}
    for key, metrics in runs.items():
        fold, seed = key.split('/', 1)
        for s in seeds:
            out[f'{fold}/{run_key(int(seed), int(s))}'] = metrics
    return out


def method_task(task: dict, method: Optional[dict], task_name: str) -> dict:
    """A downstream task as a method runs it: a method's ``downstream=dict(
    <task>=dict(config=..., cfg_options=...))`` replaces those keys (e.g. a
    ViT backbone's downstream config next to ResNet ones)."""
    override = ((method or {}).get('downstream') or {}).get(task_name)
    return dict(task, **override) if override else task


def run_probes(bench: 'Benchmark', name: str, method: Optional[dict],
               ckpt: Optional[str], folder: str) -> Dict[str, dict]:
    """The probes of the benchmark config (``probes=dict(<probe>=dict(
    ...))``) for one pre-trained backbone; cached in
    ``WORK_DIR/<folder>/probe_<probe>.json`` (recomputed when its settings
    changed). Returns {probe: result}; nothing in a dry run.

    Only ``anatomy`` probes exist (:func:`~anaus_mm.evaluation.
    anatomy_probe.run_anatomy_probe`); a probe's dict holds its keyword
    arguments (``data_root``, ``size``, ``num_images``, ``folds``, ...)
    plus ``type='anatomy'`` (the default) and ``backbone`` (a model config
    or backbone dict for methods without a config; default: the method's
    config, else ResNet-18).
    """
    probes = bench.cfg.get('probes') or {}
    out = {}
    for probe_name, probe in probes.items():
        probe = dict(probe)
        kind = probe.pop('type', 'anatomy')
        if kind != 'anatomy':
            raise ConfigValueError(f'probe {probe_name}: unknown type '
                                   f'{kind!r} (only "anatomy")')
        backbone = probe.pop('backbone', None)
        backbone = (method or {}).get('probe_backbone') or (
            _repo_path(method['config']) if method and method.get('config')
            else backbone)
        if isinstance(backbone, str):
            backbone = _repo_path(backbone)
        probe['data_root'] = _repo_path(probe['data_root'])
        path = osp.join(bench.work_dir, folder, f'probe_{probe_name}.json')
        settings = dict(probe, checkpoint=ckpt, backbone=backbone)
        print(f'[benchmark_ssl] {folder}: probe {probe_name}', flush=True)
        if bench.dry_run:
            continue
        if osp.isfile(path):
            with open(path) as f:
                cached = json.load(f)
            if cached.get('request') == json.loads(json.dumps(settings)):
                out[probe_name] = cached
                continue
        from ..evaluation.anatomy_probe import run_anatomy_probe
        result = run_anatomy_probe(ckpt, backbone=backbone, **probe)
        result['request'] = settings
        os.makedirs(osp.dirname(path), exist_ok=True)
        from ..utils.io import atomic_write_text
        atomic_write_text(path, json.dumps(result, indent=2))
        out[probe_name] = json.loads(json.dumps(result))
    return out


def pool_probes(per_variant: Dict[str, Dict[str, dict]]) -> Dict[str, dict]:
    """{probe: summary} of one method over its pre-training seeds: every
    balanced accuracy and recall as mean (and sample std over seeds) plus
    the per-seed results."""
    from ..evaluation.paired_stats import mean_std
    out = {}
    names = sorted({p for res in per_variant.values() for p in res})
    for probe in names:
        results = {v: r[probe] for v, r in per_variant.items() if probe in r}
        summary = dict(n_pretrain_seeds=len(results),
                       per_pretrain=results)
        for kind in ('roi', 'dense'):
            parts = [r[kind] for r in results.values() if kind in r]
            if not parts:
                continue
            mu, sd, _ = mean_std(p['balanced_accuracy'] for p in parts)
            recall = {}
            for cls in parts[0]['recall']:
                m, _, n = mean_std(p['recall'].get(cls) for p in parts)
                recall[cls] = round(m, 2) if n else None
            summary[kind] = dict(
                balanced_accuracy=None if mu is None else round(mu, 2),
                fold_std=parts[0].get('fold_std') if len(parts) == 1
                else None,
                seed_std=round(sd, 2) if len(parts) > 1 else None,
                recall=recall, chance=parts[0]['chance'])
        out[probe] = summary
    return out


def run_benchmark(cfg: Config, config_path: str, work_dir: str,
                  methods: Dict[str, Optional[dict]], protocol: dict,
                  launcher: str = 'none', gpus: int = 1,
                  dry_run: bool = False, in_process: bool = False,
                  command: Optional[str] = None) -> Optional[dict]:
    """Run every step of a benchmark and write its report.

    Args:
        cfg (Config): The benchmark config (after :func:`select`).
        config_path (str): Its path (for the report).
        work_dir (str): Output folder.
        methods (dict): {name: method entry or None (random init)}.
        protocol (dict): :func:`~.protocol.make_protocol` (with
            ``pretrain_seeds``: one pre-training per seed and method, see
            :func:`pretrain_variants`; runs pooled over (pre-training seed,
            fold, seed)).
        launcher, gpus, dry_run, in_process: See :class:`Benchmark`.
        command (str, optional): The command line, for the report.

    Returns:
        dict | None: {method: {task: pooled summary}} at the top fraction;
        None in a dry run.
    """
    task_info = {t: config_seed_and_iters(task)
                 for t, task in cfg.downstream.items()}
    specs = {t: [RunSpec(f, s, run_iters(protocol, t, f), task_info[t][0])
                 for f in protocol['fractions']
                 for s in range(protocol['seeds'])]
             for t in cfg.downstream}
    bench = Benchmark(cfg, work_dir, launcher, gpus, dry_run, in_process)
    if dry_run:
        plans = {(p, t, r): task_info[t][1:] for n, m in methods.items()
                 for p, _ in pretrain_variants(n, m, protocol)
                 for t in cfg.downstream for r in specs[t]}
        estimate(bench, methods, protocol, plans)
    results, ckpts, le, runs = {}, {}, {}, []
    schedules = {n: bench.schedule(n, m) for n, m in methods.items()}
    schedules = {n: s for n, s in schedules.items() if s is not None}
    check_equal_footing(schedules)
    curves, probes = {}, {}
    top = protocol['fractions'][-1]
    for name, method in methods.items():
        schedule = schedules.get(name)
        variants = pretrain_variants(name, method, protocol)
        per_variant = {}
        by_fraction = {t: {frac_key(f): {} for f in protocol['fractions']}
                       for t in cfg.downstream}
        for folder, pseed in variants:
            ckpt = bench.pretrain(folder, method, pseed)
            if pseed is None:
                ckpts[name] = ckpt
            else:
                ckpts.setdefault(name, {})[f'pretrain_seed{pseed}'] = ckpt
            if schedule is not None and not dry_run:
                label = name if pseed is None else f'{name} s{pseed}'
                curves[label] = read_loss_curve(
                    osp.join(work_dir, folder, 'pretrain'))
            if cfg.get('probes'):
                per_variant[folder] = run_probes(bench, name, method, ckpt,
                                                 folder)
            for task_name, task in cfg.downstream.items():
                task = method_task(task, method, task_name)
                for run in specs[task_name]:
                    summary = bench.downstream(folder, ckpt, task_name,
                                               task, run)
                    if summary is None:
                        continue
                    by_fraction[task_name][frac_key(run.fraction)][
                        run_key(run.seed, pseed)] = summary
                    work = run.work_dir(work_dir, folder, task_name)
                    for fold, metrics in summary['per_fold'].items():
                        runs.append(dict(
                            method=name, task=task_name,
                            label_fraction=run.fraction, seed=run.seed,
                            fold=int(fold), iters=run.iters,
                            work_dir=osp.join(work, f'fold_{fold}'),
                            metrics=metrics,
                            **({} if pseed is None
                               else dict(pretrain_seed=pseed))))
        if per_variant and not dry_run:
            probes[name] = pool_probes(per_variant)
        results[name], le[name] = {}, {}
        for task_name in cfg.downstream:
            le[name][task_name] = {}
            for fraction in protocol['fractions']:
                per_seed = by_fraction[task_name][frac_key(fraction)]
                if not per_seed:
                    continue
                pooled, by_run = pool(per_seed)
                pooled['runs'] = {f'{f}/{s}': m
                                  for (f, s), m in by_run.items()}
                if variants[0][1] is None:  # no pre-training seed
                    pooled['runs'] = replicate_for_pairing(pooled['runs'],
                                                           protocol)
                le[name][task_name][frac_key(fraction)] = pooled
                if fraction == top:
                    results[name][task_name] = (
                        dict(per_seed[0], n_runs=pooled['n_runs'])
                        if len(per_seed) == 1 and 0 in per_seed
                        else {k: v for k, v in pooled.items()
                              if k != 'runs'})
    if dry_run:
        return None
    write_results(cfg, config_path, work_dir, results, ckpts, protocol, le,
                  runs, command=command, schedules=schedules, curves=curves,
                  **({'probes': probes} if probes else {}))
    return results


def load_benchmark(config_path: str,
                   **selection: Any) -> Tuple[Config, dict]:
    """Load a benchmark config and apply :func:`select`."""
    from ..utils.cli import load_config
    cfg = load_config(config_path)
    return cfg, select(cfg, **selection)


__all__ += ['select', 'load_benchmark', 'make_protocol',
            'StepFailedError', 'check_equal_footing', 'pretrain_variants',
            'run_probes', 'pool_probes', 'method_task']
