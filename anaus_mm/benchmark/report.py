"""Statistics, tables and figures of the SSL benchmark.

Pools the k-fold summaries of every (method, task, label fraction, seed),
compares every method with the reference by paired differences over the
same (fold, seed) runs (:func:`~anaus_mm.evaluation.paired_stats.
paired_difference`), and writes ``results.json``, ``results.md``,
``results.png`` and ``label_efficiency.png``; :func:`merge_results` joins
the ``results.json`` of runs of one benchmark made separately (other
methods, another session) into one report.
"""
import json
import os.path as osp
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple

from ..evaluation.paired_stats import (detectable_difference,
                                       paired_difference, paired_t_power)
from ..utils.errors import ConfigValueError
from ..utils.io import atomic_write_figure, atomic_write_text
from .kfold import summarize
from .protocol import (budget_text, default_protocol, frac_key, frac_text,
                       protocol_flags)

if TYPE_CHECKING:
    from mmengine.config import Config

__all__ = ['pool', 'write_results', 'merge_results', 'read_loss_curve',
           'schedule_table', 'probe_section', 'pretrain_seeds_text']


def pool(summaries: Dict[int, dict]) -> Tuple[dict, dict]:
    """Pool kfold summaries of several seeds: mean ± sample std of every
    metric over all (fold, seed) runs. ``summaries``: {seed: summary}."""
    runs = {}
    for seed, summary in summaries.items():
        # a str key is a (seed, pre-training seed) run key of the runner
        seed = seed if isinstance(seed, str) else int(seed)
        for fold, metrics in summary['per_fold'].items():
            runs[(int(fold), seed)] = metrics
    mean, std = summarize(runs)
    return dict(
        mean=mean, std=std, n_runs=len(runs), seeds=sorted(summaries),
        folds_done=sorted({f for f, _ in runs}),
        per_fold={(str(f) if s == 0 else f'{f}_seed{s}'): m
                  for (f, s), m in sorted(runs.items())}), runs


def metric_table(task: dict, rows: Dict[str, dict],
                 count_label: str) -> List[str]:
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


def main_metric_table(cfg: 'Config', results: Dict[str, dict]) -> str:
    """Markdown: one row per method, one column per task metric.

    Args:
        cfg (Config): The benchmark config (``downstream``, ``kfold``).
        results (dict): {method: {task: pooled summary}}.

    Returns:
        str: One markdown section per task.
    """
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


def paired_rows(le: dict, task_name: str, task: dict,
                fractions: List[float], reference: str) -> dict:
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


def paired_table(task: dict, paired: dict, reference: str,
                 power_gap: float = 3.0) -> List[str]:
    """Markdown rows of the paired comparison with the reference, with the
    power calculation from the measured spread of the differences.

    Args:
        task (dict): The downstream task (``main_metric``).
        paired (dict): {fraction: {baseline: paired_difference(...)}}.
        reference (str): The reference method.
        power_gap (float): The gap whose detection power is reported.
            Defaults to 3.0 (points of the main metric).

    Returns:
        list[str]: The lines.
    """
    main = task['main_metric']
    lines = [f'`{reference}` − baseline on `{main}`: mean '
             'of the paired differences over the same (fold, seed) runs (same '
             'folds, label subsets and fine-tuning seeds) with a 95 % '
             'Student-t interval (scipy.stats.t, n − 1 degrees of freedom). '
             '**yes** = the interval excludes 0. Power calculation from the '
             'measured sd of the differences (two-sided paired t at 5 %, '
             'noncentral t): *detectable* = the smallest true gap found with '
             f'80 % power; *power at {power_gap:g}* = the probability that a '
             f'true {power_gap:g}-point gap would be called real.', '',
             '| labels | baseline | pairs | difference | 95 % interval | '
             f'real gap? | sd | detectable | power at {power_gap:g} |',
             '|---|---|---|---|---|---|---|---|---|']
    for key, per in paired.items():
        for method, st in per.items():
            if st['mean'] is None:
                continue
            if st['low'] is None:
                ci, real = '– (< 2 pairs)', '–'
            else:
                ci = f'[{st["low"]:+.2f}, {st["high"]:+.2f}]'
                real = '**yes**' if st['significant'] else 'no'
            det = detectable_difference(st['sd'], st['n'])
            pw = paired_t_power(power_gap, st['sd'], st['n'])
            lines.append(
                f'| {frac_text(key)} | {method} | {st["n"]} | '
                f'{st["mean"]:+.2f} | {ci} | {real} | {st["sd"]:.2f} | '
                + ('–' if det is None else f'{det:.2f}') + ' | '
                + ('–' if pw is None else f'{100 * pw:.0f} %') + ' |')
    return lines


def label_efficiency_md(cfg: 'Config', protocol: dict, le: dict,
                        paired: dict) -> str:
    """The label-efficiency section of ``results.md``.

    Args:
        cfg (Config): The benchmark config (``downstream``, ``kfold``).
        protocol (dict): See :func:`~.protocol.make_protocol`.
        le (dict): {method: {task: {fraction: pooled}}}.
        paired (dict): {task: :func:`paired_rows`} against the reference.

    Returns:
        str: The markdown section.
    """
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
                                  protocol['reference'],
                                  cfg.get('power_gap', 3.0)) + ['']
    return '\n'.join(lines)

def plot(cfg: 'Config', results: Dict[str, dict], path: str,
         curves: Optional[Dict[str, List[Tuple[int, float]]]] = None) -> None:
    """``results.png``: main metric per task and method (error bars = std
    over runs) and, with ``curves``, each method's pre-training loss.

    Args:
        cfg (Config): The benchmark config (``downstream``).
        results (dict): {method: {task: pooled summary}}.
        path (str): The PNG to write.
        curves (dict, optional): {method: [(iteration, loss), ...]}.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    tasks = list(cfg.downstream.items())
    curves = {m: c for m, c in (curves or {}).items() if c}
    panels = len(tasks) + (1 if curves else 0)
    # bar panels widen with the number of methods (labels stay readable)
    bar_width = max(4.5, 0.45 * len(results))
    widths = [bar_width] * len(tasks) + ([4.5] if curves else [])
    fig, axes = plt.subplots(1, panels, figsize=(sum(widths), 4.2),
                             squeeze=False,
                             gridspec_kw=dict(width_ratios=widths))
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
        plt.setp(ax.get_xticklabels(), rotation=35, ha='right',
                 rotation_mode='anchor', fontsize=8)
        ax.set_ylim(0, max([m + s for m, s in zip(means, stds)] + [1]) * 1.1)
    if curves:
        ax = axes[0][-1]
        for method, curve in curves.items():
            its, vals = zip(*curve)
            # min-max scaled per run: the losses differ in scale and sign
            # (BYOL's is negative and starts near 0, so a ratio to the first
            # value explodes); the shape shows whether a run has flattened
            low, span = min(vals), (max(vals) - min(vals)) or 1.0
            ax.plot(its, [(v - low) / span for v in vals], label=method,
                    lw=2.0 if method.startswith('anaus') else 1.2)
        ax.set_xlabel('pre-training iteration')
        ax.set_ylabel('loss, min-max scaled per run')
        ax.set_title('pre-training loss', fontsize=10)
        ax.legend(fontsize=7)
    fig.suptitle('Downstream performance per pre-training method '
                 '(mean ± std over runs)', fontsize=10)
    _save(fig, path)


def _save(fig, path: str) -> None:
    """Write a figure as PNG atomically and close it."""
    fig.tight_layout()
    atomic_write_figure(fig, path, dpi=110)


def read_loss_curve(pretrain_dir: str) -> List[Tuple[int, float]]:
    """(iteration, total loss) pairs logged by a pre-training run.

    Reads mmengine's ``<timestamp>/vis_data/scalars.json`` files of
    ``pretrain_dir`` (every run, later runs of a resumed training overriding
    earlier iterations); the total is the ``loss`` key mmengine logs.
    """
    import glob
    points = {}
    for path in sorted(glob.glob(osp.join(pretrain_dir, '*', 'vis_data',
                                          'scalars.json'))):
        with open(path) as f:
            for line in f:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if 'loss' in row and 'iter' in row:
                    points[int(row['iter'])] = float(row['loss'])
    return sorted(points.items())


def schedule_table(schedules: Dict[str, dict]) -> List[str]:
    """Markdown rows of each method's effective pre-training schedule."""
    lines = ['| method | iterations | total batch | images seen | peak LR | '
             'warm-up (it) | last LR | LR minimum at it |',
             '|---|---|---|---|---|---|---|---|']
    for method, s in schedules.items():
        lines.append(
            f'| {method} | {s["max_iters"]} | {s["batch_size"]} | '
            f'{s["images_seen"]} | {s["peak_lr"]:.3g} | {s["warmup_iters"]}'
            f' | {s["last_lr"]:.3g} | {s["min_lr_iter"]} |')
    return lines


def plot_label_efficiency(cfg: 'Config', protocol: dict, le: dict,
                          path: str) -> None:
    """Main metric vs label fraction, one line per method, error bars =
    sample std over folds × seeds.

    Args:
        cfg (Config): The benchmark config (``downstream``).
        protocol (dict): See :func:`~.protocol.make_protocol`.
        le (dict): {method: {task: {fraction: pooled}}}.
        path (str): The PNG to write.
    """
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


def pretrain_seeds_text(protocol: dict) -> List[str]:
    """A paragraph on the pre-training seeds of ``protocol`` (none without
    ``pretrain_seeds``)."""
    seeds = protocol.get('pretrain_seeds')
    if not seeds:
        return []
    return [f'Pre-training seeds {list(seeds)}: every pre-training method '
            'is pre-trained once per seed (`WORK_DIR/<method>/'
            'pretrain_seed<S>`) and each pre-training runs the whole '
            'downstream protocol; means, stds and paired intervals pool the '
            'runs over (pre-training seed, fold, fine-tuning seed), so the '
            "intervals include the pre-training's own variance. A method "
            'without pre-training (random init) runs once per (fold, seed); '
            'each of its runs is paired with the run of the same (fold, '
            'seed) of every pre-training seed.', '']


def probe_section(probes: Dict[str, dict]) -> List[str]:
    """The probes section of ``results.md``: per probe, one row per method
    (ROI and dense balanced accuracy, dense recall per anatomy, in %)."""
    from ..evaluation.anatomy_probe import (probe_markdown_header,
                                            probe_markdown_row)
    lines = ['## Anatomy probes (frozen backbone)', '',
             'Linear probes on frozen backbone features of held-out images '
             '(grouped folds over images; `anaus_mm/evaluation/'
             'anatomy_probe.py`). ROI: mask-pooled features of each anatomy '
             '→ its id (saturates easily: the true mask is given). Dense: '
             'every stride-8 cell → its majority anatomy (mixed and '
             'background cells ignored). Balanced accuracy ± std over folds '
             '(one pre-training) or over pre-training seeds; recall per '
             'anatomy in %; – = no sample.', '']
    names = sorted({p for per in probes.values() for p in per})
    for probe in names:
        rows = {m: per[probe] for m, per in probes.items() if probe in per}
        classes = []
        for res in rows.values():
            classes += [c for c in (res.get('dense') or res.get('roi') or
                                    {}).get('recall', {})
                        if c not in classes]
        lines += [f'### {probe}', ''] + probe_markdown_header(classes)
        for method, res in rows.items():
            flat = {k: (dict(v, fold_std=v.get('seed_std') if
                             v.get('seed_std') is not None
                             else v.get('fold_std'))
                        if isinstance(v, dict) else v)
                    for k, v in res.items()}
            lines.append(probe_markdown_row(method, flat, classes))
        lines.append('')
    return lines


def write_results(cfg: 'Config', config_path: str, work_dir: str,
                  results: Dict[str, dict], ckpts: Dict[str, Optional[str]],
                  protocol: Optional[dict] = None, le: Optional[dict] = None,
                  runs: Optional[list] = None, command: Optional[str] = None,
                  schedules: Optional[Dict[str, dict]] = None,
                  curves: Optional[Dict[str, list]] = None,
                  probes: Optional[Dict[str, dict]] = None) -> None:
    """Write ``results.{json,md,png}`` (and ``label_efficiency.png`` for
    several fractions) into ``work_dir``.

    Args:
        cfg (Config): The benchmark config.
        config_path (str): Its path (for the regenerating command).
        work_dir (str): Output folder.
        results (dict): {method: {task: pooled summary}} at the top
            fraction.
        ckpts (dict): {method: pre-trained checkpoint or None}.
        protocol (dict, optional): See :func:`~.protocol.make_protocol`.
        le (dict, optional): {method: {task: {fraction: pooled}}}.
        runs (list, optional): Every (method, task, fraction, seed, fold).
        command (str, optional): The command that produced the results.
        schedules (dict, optional): {method: :func:`~anaus_mm.engine.
            budget.schedule_summary`} of the pre-trainings.
        curves (dict, optional): {method: :func:`read_loss_curve`}.
        probes (dict, optional): {method: {probe: pooled result}} of the
            benchmark's probes (:func:`~.runner.pool_probes`).
    """
    schedules = schedules or {}
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
                   paired=paired, runs=runs or [],
                   pretrain_schedules=schedules,
                   pretrain_loss_curves=curves or {})
    if probes:
        payload['probes'] = probes
    atomic_write_text(osp.join(work_dir, 'results.json'),
                      json.dumps(payload, indent=2))
    md = [f'# SSL benchmark: `{config_path}`', '',
          'Every method pre-trains on the same images with the same '
          f'backbone, batch and schedule ({cfg.get("pretrain")}), then runs '
          'the same downstream protocol. `random` = no pre-training.', '']
    if schedules:
        md += ['## Pre-training schedules', '',
               'Effective schedule of every pre-training (its own '
               'schedulers stepped over the budget; LR scaled linearly '
               'with the total batch from the config\'s '
               '`auto_scale_lr.base_batch_size`).', '']
        md += schedule_table(schedules) + ['']
    md += pretrain_seeds_text(protocol)
    if probes:
        md += probe_section(probes)
    if protocol['fractions'] == [1.0] and protocol['seeds'] == 1 and \
            not protocol['iters']:
        md.append(main_metric_table(cfg, results))
        for task_name, task in cfg.downstream.items():
            if paired[task_name]:
                md += [f'### {task_name}: paired comparison', '']
                md += paired_table(task, paired[task_name],
                                   protocol['reference'],
                                   cfg.get('power_gap', 3.0)) + ['']
    else:
        md.append(label_efficiency_md(cfg, protocol, le, paired))
    command = command or ('python tools/benchmark_ssl.py '
                          f'{config_path} --work-dir {work_dir}' +
                          protocol_flags(protocol))
    md += [f'Regenerate with `{command}`.', '']
    atomic_write_text(osp.join(work_dir, 'results.md'), '\n'.join(md))
    plot(cfg, results, osp.join(work_dir, 'results.png'), curves)
    if len(protocol['fractions']) > 1:
        plot_label_efficiency(cfg, protocol, le,
                              osp.join(work_dir, 'label_efficiency.png'))


#: What must agree between the ``results.json`` files that are merged.
SAME_BENCHMARK_KEYS = ('downstream', 'kfold', 'pretrain', 'pretrain_data')


def _read_results(path: str) -> dict:
    """A ``results.json`` of :func:`write_results`, checked."""
    try:
        with open(path) as f:
            payload = json.load(f)
    except OSError as e:
        raise ConfigValueError(f'{path}: cannot read it ({e.strerror})')
    except ValueError as e:
        raise ConfigValueError(f'{path}: not JSON ({e})')
    missing = [k for k in ('label_efficiency', 'runs', 'protocol',
                           'downstream', 'results')
               if not isinstance(payload, dict) or k not in payload]
    if missing:
        raise ConfigValueError(f'{path}: not a benchmark results.json (no '
                               f'{", ".join(missing)})')
    return payload


def merge_results(paths: Sequence[str], work_dir: str,
                  reference: Optional[str] = None,
                  command: Optional[str] = None) -> dict:
    """Join the ``results.json`` of separate runs of one benchmark into one
    report (``results.{json,md,png}`` in ``work_dir``).

    Runs of the same benchmark config made at different times (methods
    added later, another session whose work dir is gone) pair by (fold,
    seed) like the runs of one invocation: the folds and the labelled
    subsets are fixed by the config, not by the invocation. Nothing is
    re-run; every number comes from the files (loss curves where the file
    keeps them: reports written before 2026-12-02 evening do not).

    Args:
        paths (Sequence[str]): Two or more ``results.json``.
        work_dir (str): Output folder of the merged report.
        reference (str, optional): The reference method of the paired
            comparison. Defaults to the first file's.
        command (str, optional): The command line, for the report.

    Returns:
        dict: {method: {task: pooled summary}} at the top fraction.

    Raises:
        ConfigValueError: A file that is not a results.json, files of
            different benchmarks (downstream tasks, folds, pre-training
            budget or data, label fractions, seeds or fine-tuning budget
            differ), a method in two files, or a reference in none.
    """
    from mmengine.config import Config

    from .runner import replicate_for_pairing, run_key
    if len(paths) < 2:
        raise ConfigValueError('merging needs two or more results.json')
    payloads = [_read_results(p) for p in paths]
    first = payloads[0]

    def protocol_of(payload: dict) -> dict:
        return {k: v for k, v in payload['protocol'].items()
                if k != 'reference'}

    owner = {}
    for path, payload in zip(paths, payloads):
        for key in SAME_BENCHMARK_KEYS:
            if payload.get(key) != first.get(key):
                raise ConfigValueError(
                    f'{path}: its "{key}" differs from {paths[0]}\'s: not '
                    'runs of the same benchmark')
        if protocol_of(payload) != protocol_of(first):
            raise ConfigValueError(
                f'{path}: its protocol {protocol_of(payload)} differs from '
                f'{paths[0]}\'s {protocol_of(first)}')
        for method in payload['label_efficiency']:
            if method in owner:
                raise ConfigValueError(
                    f'{path}: method "{method}" is also in {owner[method]} '
                    '(merge each method once)')
            owner[method] = path
    protocol = dict(first['protocol'])
    protocol['reference'] = reference or protocol['reference']
    if protocol['reference'] not in owner:
        raise ConfigValueError(
            f'reference "{protocol["reference"]}" is in none of the files '
            f'(methods: {", ".join(owner)})')
    results, ckpts, le, runs, schedules, probes = {}, {}, {}, [], {}, {}
    curves = {}
    for payload in payloads:
        curves.update(payload.get('pretrain_loss_curves', {}))
        results.update(payload['results'])
        ckpts.update(payload.get('checkpoints', {}))
        schedules.update(payload.get('pretrain_schedules', {}))
        probes.update(payload.get('probes', {}))
        runs += payload['runs']
        for method, per_task in payload['label_efficiency'].items():
            le[method] = {t: {k: dict(v, runs={}) for k, v in per.items()}
                          for t, per in per_task.items()}
    for run in runs:  # the per-run metrics the paired comparison needs
        key = (f'{run["fold"]}/'
               f'{run_key(run["seed"], run.get("pretrain_seed"))}')
        pooled = le[run['method']][run['task']][frac_key(
            run['label_fraction'])]
        pooled['runs'][key] = run['metrics']
    for method, per_task in le.items():
        if all('pretrain_seed' not in r for r in runs
               if r['method'] == method):
            for per in per_task.values():
                for pooled in per.values():
                    pooled['runs'] = replicate_for_pairing(pooled['runs'],
                                                           protocol)
    cfg = Config({k: first[k] for k in SAME_BENCHMARK_KEYS
                  if first.get(k) is not None})
    command = command or (
        'python tools/analysis_tools/merge_benchmark_results.py ' +
        ' '.join(paths) + f' --work-dir {work_dir}')
    write_results(cfg, first['config'], work_dir, results, ckpts, protocol,
                  le, runs, command=command, schedules=schedules,
                  curves=curves, **({'probes': probes} if probes else {}))
    return results
