"""``report.md`` and ``report.png`` of ``make demo`` (tools/demo.py)."""
import json
import os
import os.path as osp

import cv2
import numpy as np

from .io import atomic_write_text

__all__ = ['mask_agreement', 'write_report']


def _palette(meta):
    return np.array(meta['palette'], dtype=np.uint8)


def _overlay(gray, mask, palette, alpha=0.45):
    rgb = np.repeat(gray[..., None], 3, -1).astype(np.float32)
    colour = palette[np.clip(mask, 0, len(palette) - 1)].astype(np.float32)
    keep = (mask > 0)[..., None]
    out = np.where(keep, (1 - alpha) * rgb + alpha * colour, rgb)
    return out.astype(np.uint8)


def mask_agreement(data_dir, pred_dir, num_classes):
    """Dice per anatomy id between predicted and ground-truth label maps,
    pooled over every image that has both (ids 1..num_classes-1)."""
    inter = np.zeros(num_classes)
    total = np.zeros(num_classes)
    count = 0
    for name in sorted(os.listdir(osp.join(data_dir, 'masks'))):
        pred_path = osp.join(pred_dir, name)
        if not osp.isfile(pred_path):
            continue
        gt = cv2.imread(osp.join(data_dir, 'masks', name), 0)
        pred = cv2.imread(pred_path, 0)
        if gt is None or pred is None or gt.shape != pred.shape:
            continue
        count += 1
        for c in range(1, num_classes):
            g, p = gt == c, pred == c
            inter[c] += np.logical_and(g, p).sum()
            total[c] += g.sum() + p.sum()
    dice = {c: (2 * inter[c] / total[c] if total[c] else float('nan'))
            for c in range(1, num_classes)}
    return dice, count


def write_report(data_dir, work_dir, bench_dir, pred_dir, elapsed_min,
                 num_examples=3, skipped=0):
    """Write ``work_dir/report.md`` and ``report.png``; return the .md
    path."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    with open(osp.join(data_dir, 'meta.json')) as f:
        meta = json.load(f)
    with open(osp.join(bench_dir, 'results.json')) as f:
        bench = json.load(f)
    classes = meta['classes']
    palette = _palette(meta)
    dice, count = mask_agreement(data_dir, pred_dir, len(classes))

    names = sorted(os.listdir(osp.join(data_dir, 'images')))[:num_examples]
    tasks = list(next(iter(bench['results'].values())).keys())
    fig = plt.figure(figsize=(3.2 * max(num_examples, len(tasks) + 1), 10))
    grid = fig.add_gridspec(3, max(num_examples, len(tasks) + 1))
    for i, name in enumerate(names):
        gray = cv2.imread(osp.join(data_dir, 'images', name), 0)
        gt = cv2.imread(osp.join(data_dir, 'masks', name), 0)
        pred = cv2.imread(osp.join(pred_dir, name), 0)
        for row, (mask, title) in enumerate(
                [(gt, 'simulator ground truth'), (pred, 'LP-SAM')]):
            ax = fig.add_subplot(grid[row, i])
            if mask is None:
                mask = np.zeros_like(gray)
            ax.imshow(_overlay(gray, mask, palette))
            ax.set_title(f'{name}: {title}', fontsize=8)
            ax.axis('off')
    for j, task in enumerate(tasks):
        ax = fig.add_subplot(grid[2, j])
        metric = _main_metric(bench, task)
        methods, means, stds = [], [], []
        for method, res in bench['results'].items():
            summary = res.get(task)
            if summary and metric in summary['mean']:
                methods.append(method)
                means.append(summary['mean'][metric])
                stds.append(summary['std'].get(metric, 0.0))
        ax.bar(methods, means, yerr=stds, capsize=4, color=[
            'tab:red' if m.startswith('anaus') else 'tab:gray'
            for m in methods])
        ax.set_title(f'{task}: {metric}', fontsize=9)
        ax.tick_params(axis='x', rotation=30, labelsize=8)
    ax = fig.add_subplot(grid[2, len(tasks)])
    ids = [c for c in dice if not np.isnan(dice[c])]
    ax.barh([classes[c] for c in ids], [100 * dice[c] for c in ids],
            color=[palette[c] / 255.0 for c in ids], edgecolor='k')
    ax.set_xlim(0, 100)
    ax.set_title('LP-SAM vs ground truth (Dice %)', fontsize=9)
    fig.tight_layout()
    png = osp.join(work_dir, 'report.png')
    tmp = png + '.tmp.png'
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    os.replace(tmp, png)

    with open(osp.join(bench_dir, 'results.md')) as f:
        results_md = f.read()
    lines = [
        '# ANAUS demo report', '',
        f'Simulated data: `{data_dir}` ({meta.get("num")} images, '
        f'{meta["settings"]["size"]} px, {meta["settings"]["probe"]} probe, '
        f'seed {meta["settings"]["seed"]}). This run: {elapsed_min:.1f} '
        'min on this machine' + (f' ({skipped} steps done earlier were '
                                 'skipped)' if skipped else '') +
        '. Schedules are minutes-long CPU runs: the numbers show the '
        'pipeline end to end, not converged results.', '',
        '![report](report.png)', '',
        '## LP-SAM anatomy masks vs the simulator\'s ground truth', '',
        f'Dice per anatomy over {count} images (tiny SAM architecture, '
        'random SAM weights unless a checkpoint was given):', '',
        '| anatomy | Dice % |', '|---|---|'] + [
            f'| {classes[c]} | ' +
            ('–' if np.isnan(dice[c]) else f'{100 * dice[c]:.1f}') + ' |'
            for c in dice] + ['', '## Downstream', '', results_md]
    path = osp.join(work_dir, 'report.md')
    atomic_write_text(path, '\n'.join(lines))
    return path


def _main_metric(bench, task):
    cfg = bench.get('downstream') or {}
    if task in cfg:
        return cfg[task]['main_metric']
    summary = next(r[task] for r in bench['results'].values() if r.get(task))
    return next(iter(summary['mean']))
