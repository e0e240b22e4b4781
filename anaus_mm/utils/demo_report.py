"""``report.md`` and ``report.png`` of ``make demo`` (tools/demo.py)."""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from ..visualization import draw_label_overlay
from .io import atomic_write_figure, atomic_write_text

__all__ = ['mask_agreement', 'write_report']


def mask_agreement(data_dir: str, pred_dir: str,
                   num_classes: int) -> Tuple[Dict[int, float], int]:
    """Dice per anatomy id between predicted and ground-truth label maps.

    Args:
        data_dir (str): the simulated set (``masks/`` holds the truth).
        pred_dir (str): predicted label maps, same file names.
        num_classes (int): ids ``0..num_classes-1`` (0 background).

    Returns:
        tuple[dict[int, float], int]: Dice of ids ``1..num_classes-1``
        pooled over every image that has both maps of the same size (NaN
        for an id absent from both), and the number of such images.
    """
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


def write_report(data_dir: str,
                 work_dir: str,
                 bench_dir: str,
                 pred_dir: str,
                 elapsed_min: float,
                 num_examples: int = 3,
                 skipped: int = 0,
                 story: Optional[str] = None,
                 sam_checkpoint: Optional[str] = None) -> str:
    """Write ``work_dir/report.md`` and ``report.png``.

    The figure shows ``num_examples`` images with the simulator's masks and
    LP-SAM's drawn over them (:func:`anaus_mm.visualization.
    draw_label_overlay`), the downstream metrics per method and LP-SAM's
    Dice per anatomy.

    Args:
        data_dir (str): the simulated set (``meta.json``, ``images/``,
            ``masks/``).
        work_dir (str): where the report goes.
        bench_dir (str): the benchmark's work dir (``results.json``,
            ``results.md``).
        pred_dir (str): LP-SAM's label maps.
        elapsed_min (float): run time quoted in the report.
        num_examples (int): images in the figure. Defaults to 3.
        skipped (int): demo steps skipped as already done. Defaults to 0.
        story (str, optional): the JSON of ``eval_lpsam.py`` (zero-shot,
            stage 1, stage 2 on held-out images), shown as a table.
        sam_checkpoint (str, optional): the SAM weights LP-SAM started
            from (None: random), named in the report.

    Returns:
        str: the path of ``report.md``.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    with open(osp.join(data_dir, 'meta.json')) as f:
        meta = json.load(f)
    with open(osp.join(bench_dir, 'results.json')) as f:
        bench = json.load(f)
    classes = meta['classes']
    palette = np.array(meta['palette'], dtype=np.uint8)
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
            elif mask.shape != gray.shape:
                mask = cv2.resize(mask, gray.shape[::-1],
                                  interpolation=cv2.INTER_NEAREST)
            ax.imshow(draw_label_overlay(gray, mask, meta['palette'],
                                         classes, opacity=0.45))
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
        plt.setp(ax.get_xticklabels(), rotation=35, ha='right',
                 rotation_mode='anchor', fontsize=8)
    ax = fig.add_subplot(grid[2, len(tasks)])
    ids = [c for c in dice if not np.isnan(dice[c])]
    ax.barh([classes[c] for c in ids], [100 * dice[c] for c in ids],
            color=[palette[c] / 255.0 for c in ids], edgecolor='k')
    ax.set_xlim(0, 100)
    ax.set_title('LP-SAM vs ground truth (Dice %)', fontsize=9)
    fig.tight_layout()
    atomic_write_figure(fig, osp.join(work_dir, 'report.png'), dpi=90)

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
        f'Dice per anatomy over {count} images (the images LP-SAM was '
        'trained on; LP-SAM started from ' +
        (f'`{sam_checkpoint}`' if sam_checkpoint else 'random SAM weights') +
        '):', '',
        '| anatomy | Dice % |', '|---|---|'] + [
            f'| {classes[c]} | ' +
            ('–' if np.isnan(dice[c]) else f'{100 * dice[c]:.1f}') + ' |'
            for c in dice] + _story_lines(story) + _mask_source_lines(
                bench, dice) + ['', '## Downstream', '', results_md]
    path = osp.join(work_dir, 'report.md')
    atomic_write_text(path, '\n'.join(lines))
    return path


def _story_lines(story: Optional[str]) -> List[str]:
    """The LP-SAM story table (``eval_lpsam.py``'s JSON), or nothing."""
    if not story:
        return []
    from ..evaluation.lpsam_eval import story_table
    with open(story) as f:
        res = json.load(f)
    n = next(iter(res['runs'].values()))['images']
    return [
        '', '## LP-SAM on held-out images', '',
        f'Dice % per anatomy on {n} held-out images of the same domain '
        f'(`{res["data_root"]}`; in brackets the anatomy\'s share of the '
        'pixels): the SAM weights zero-shot with ground-truth boxes, stage 1 '
        '(adapters) with the same boxes, stage 2 (latent prompts) without '
        'prompts; the last row is stage 2 as a share of stage 1 (target '
        '≥ 85 %).', '',
        story_table(res['runs'], shares=res.get('shares'))]


#: the demo's ANAUS variants by mask source
MASK_SOURCES = dict(anaus='LP-SAM', anaus_gt_masks='simulator ground truth',
                    anaus_unsup_masks='k-means clusters (unsupervised)')


def _mask_source_lines(bench: dict, dice: Dict[int, float]) -> List[str]:
    """What mask quality buys downstream: the ANAUS runs by mask source."""
    rows = [m for m in MASK_SOURCES if m in bench['results']]
    if len(rows) < 2:
        return []
    ok = [v for v in dice.values() if not np.isnan(v)]
    quality = {'anaus': f'{100 * np.mean(ok):.1f}' if ok else '–',
               'anaus_gt_masks': '100.0',
               'anaus_unsup_masks': '– (clusters carry no anatomy ids)'}
    tasks = list(bench['results'][rows[0]].keys())
    lines = ['', '## What mask quality buys downstream', '',
             'ANAUS pre-trained on three mask sources, everything else '
             'equal (mean ± std over folds; paired differences in the '
             'benchmark section below).', '',
             '| method | masks | mask Dice vs truth (mean over anatomies) | ' +
             ' | '.join(f'{t}: {_main_metric(bench, t)}' for t in tasks) +
             ' |', '|---' * (3 + len(tasks)) + '|']
    for m in rows:
        cells = []
        for t in tasks:
            summary = bench['results'][m].get(t)
            metric = _main_metric(bench, t)
            if summary and metric in summary['mean']:
                cells.append(f'{summary["mean"][metric]:.2f} ± '
                             f'{summary["std"].get(metric, 0.0):.2f}')
            else:
                cells.append('–')
        lines.append(f'| {m} | {MASK_SOURCES[m]} | {quality[m]} | ' +
                     ' | '.join(cells) + ' |')
    return lines


def _main_metric(bench, task):
    cfg = bench.get('downstream') or {}
    if task in cfg:
        return cfg[task]['main_metric']
    summary = next(r[task] for r in bench['results'].values() if r.get(task))
    return next(iter(summary['mean']))
