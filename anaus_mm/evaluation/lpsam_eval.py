"""Per-anatomy Dice of LP-SAM models: the "LP-SAM story" table.

The LP-SAM issue asks three questions of a promptable SAM on held-out
images of the target domain, anatomy by anatomy:

* **zero-shot**: SAM (here the simulated stand-in) prompted with
  ground-truth boxes, no adaptation. A stage-1 model before training is
  exactly that: its adapters are zero-initialised, so the encoder is SAM's;
* **stage 1**: the trained adapters, the same ground-truth boxes; it must
  beat zero-shot, otherwise the adapters do nothing;
* **stage 2**: the latent prompt engine, no prompts at all; the target is
  ≥ 85 % of stage 1's boxed Dice on every anatomy.

:func:`per_class_dice` runs one model over a folder of the simulator's
layout (``images/`` + ``masks/``) and pools intersections and areas over
the images (mmseg's ``IoUMetric.intersect_and_union``), at the size of the
ground truth; :func:`story_table` turns several runs into a markdown table
with the stage-2 / stage-1 ratio.

Example::

    from anaus_mm.evaluation.lpsam_eval import per_class_dice
    res = per_class_dice(
        'configs/lpsam/lpsam-stage2_mini_1xb4-1800it_sim-128.py',
        'work_dirs/lpsam-stage2_mini_1xb4-1800it_sim-128',
        data_root='data/lpsam_target_test')
    print(res['dice'])   # {'subcutaneous': 81.2, 'fascia': 40.3, ...}
"""
import math
import os.path as osp
import time
from typing import Any, Dict, Mapping, Optional, Sequence

import torch

from ..utils.errors import AnausError

__all__ = ['per_class_dice', 'story_table', 'class_shares', 'STAGE2_TARGET']

#: stage 2 must reach this share of stage 1's boxed Dice (the issue)
STAGE2_TARGET = 0.85


def per_class_dice(config: str,
                   checkpoint: Optional[str] = None,
                   data_root: Optional[str] = None,
                   cfg_options: Optional[Mapping[str, Any]] = None,
                   batch_size: Optional[int] = None,
                   device: str = 'cpu') -> Dict[str, Any]:
    """Dice per anatomy of an LP-SAM model on a folder with ground truth.

    Args:
        config (str): an LP-SAM config (stage 0 / 1 predict with the ground
            truth's boxes, stage 2 without prompts).
        checkpoint (str, optional): a checkpoint file or a work dir (its best
            checkpoint, else its last); None keeps the weights the config
            builds (e.g. a stage-1 model with its ``sam_checkpoint`` only:
            the zero-shot baseline).
        data_root (str, optional): a folder with ``images/`` and ``masks/``
            (replaces the test set of the config).
        cfg_options (Mapping, optional): config overrides (dotted keys).
        batch_size (int, optional): test batch size.
        device (str): ``'cpu'`` or ``'cuda'``.

    Returns:
        dict: ``dice`` (class name → Dice %, NaN for a class absent from
        both), ``images``, ``seconds`` and the inputs.

    Raises:
        AnausError: no images in ``data_root``.
    """
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner
    from mmseg.evaluation.metrics import IoUMetric
    from mmseg.registry import MODELS

    from ..utils.checkpoint import (CheckpointError, check_shapes,
                                    missing_keys, read_checkpoint,
                                    resolve_checkpoint)

    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(dict(cfg_options))
    loader = cfg.test_dataloader
    if data_root is not None:
        if not osp.isdir(osp.join(data_root, 'images')):
            raise AnausError(f'{data_root}: no images/ folder (expected the '
                             'simulator layout images/ + masks/)')
        loader.dataset.data_root = data_root
        loader.dataset.data_prefix = dict(img_path='images',
                                          seg_map_path='masks')
    if batch_size:
        loader.batch_size = batch_size
    ckpt = resolve_checkpoint(checkpoint) if checkpoint else None
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    mcfg = cfg.model.copy()
    if ckpt:  # every weight comes from the checkpoint
        mcfg.sam_checkpoint = None
        mcfg.stage1_checkpoint = None
    model = MODELS.build(mcfg)
    if ckpt:
        state, _ = read_checkpoint(ckpt)
        check_shapes(model, state, ckpt)
        missing = missing_keys(model, state)
        if missing:
            raise CheckpointError(
                f'checkpoint {ckpt} lacks {len(missing)} keys of the model '
                f'of {config}, e.g. {missing[:3]} (another stage?)')
        model.load_state_dict(state, strict=False)
    model = model.to(device).eval()
    dataloader = Runner.build_dataloader(loader)
    classes = dataloader.dataset.metainfo['classes']
    n_cls = len(classes)
    area = torch.zeros(3, n_cls, dtype=torch.float64)  # inter, pred, label
    images, start = 0, time.time()
    with torch.no_grad():
        for batch in dataloader:
            for res in model.test_step(batch):
                pred = res.pred_sem_seg.data[0].cpu()
                label = res.gt_sem_seg.data[0].cpu().to(pred.dtype)
                inter, _, p, gt = IoUMetric.intersect_and_union(
                    pred, label, n_cls, 255)
                area += torch.stack([inter, p, gt]).double()
                images += 1
    if images == 0:
        raise AnausError(f'{data_root or config}: no test images')
    dice = {}
    for c in range(1, n_cls):
        total = area[1, c] + area[2, c]
        dice[classes[c]] = float(200 * area[0, c] / total) if total else \
            float('nan')
    return dict(config=config, checkpoint=ckpt, data_root=data_root,
                images=images, seconds=time.time() - start, dice=dice)


def story_table(runs: Mapping[str, Mapping[str, Any]],
                stage1: str = 'stage 1',
                stage2: str = 'stage 2',
                shares: Optional[Mapping[str, float]] = None) -> str:
    """A markdown table of :func:`per_class_dice` results, one row each.

    When both ``stage1`` and ``stage2`` are among the runs, a last row gives
    stage 2's Dice as a share of stage 1's and marks every anatomy that
    reaches :data:`STAGE2_TARGET`.

    Args:
        runs (Mapping): row name → a result of :func:`per_class_dice`.
        stage1 (str): the row of the boxed stage-1 model.
        stage2 (str): the row of the prompt-free stage-2 model.
        shares (Mapping, optional): class name → its share of the image
            pixels (shown in the header, to tell thin structures apart).

    Returns:
        str: the table (no trailing newline).
    """
    names = list(next(iter(runs.values()))['dice'])
    head = [f'{n} ({100 * shares[n]:.1f} %)' if shares and n in shares
            else n for n in names]
    lines = ['| model | ' + ' | '.join(head) + ' | mean |',
             '|---' * (len(names) + 2) + '|']

    def fmt(v: float) -> str:
        return '–' if math.isnan(v) else f'{v:.1f}'

    for row, res in runs.items():
        vals = [res['dice'][n] for n in names]
        ok = [v for v in vals if not math.isnan(v)]
        mean = sum(ok) / len(ok) if ok else float('nan')
        lines.append(f'| {row} | ' + ' | '.join(fmt(v) for v in vals) +
                     f' | {fmt(mean)} |')
    if stage1 in runs and stage2 in runs:
        cells = []
        for n in names:
            a, b = runs[stage1]['dice'][n], runs[stage2]['dice'][n]
            if math.isnan(a) or math.isnan(b) or a == 0:
                cells.append('–')
                continue
            share = b / a
            mark = '✓' if share >= STAGE2_TARGET else '✗'
            cells.append(f'{100 * share:.0f} % {mark}')
        lines.append(f'| {stage2} / {stage1} | ' + ' | '.join(cells) +
                     ' | |')
    return '\n'.join(lines)


def class_shares(data_root: str, classes: Sequence[str]) -> Dict[str, float]:
    """Mean share of the image pixels of each anatomy in ``data_root/masks``.

    Args:
        data_root (str): the simulator layout.
        classes (Sequence[str]): class names by id (0 = background).

    Returns:
        dict[str, float]: class name (ids ≥ 1) → mean pixel share.
    """
    import os

    import cv2
    import numpy as np
    names = sorted(os.listdir(osp.join(data_root, 'masks')))
    share = np.zeros(len(classes))
    for name in names:
        m = cv2.imread(osp.join(data_root, 'masks', name), 0)
        share += np.bincount(m.ravel(), minlength=256)[:len(classes)] / m.size
    share /= max(len(names), 1)
    return {c: float(share[i]) for i, c in enumerate(classes) if i}
