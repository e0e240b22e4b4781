"""Grouped k-fold cross-validation of a downstream config.

Every fold trains and tests in ``WORK_DIR/fold_<i>/`` with the config's
datasets wrapped in (or, when already, set up as)
:class:`~anaus_mm.datasets.GroupKFoldDataset`, so that no patient / video
lands in two folds, and writes its test metrics to ``metrics.json``; the
summary of the finished folds goes to ``kfold_summary.{json,md}`` (per-fold
metrics, mean ± sample standard deviation). ``tools/kfold.py`` is the
command line of :func:`run_kfold`.

Label efficiency: ``label_fraction`` / ``subset_seed`` train each fold on a
grouped, class-stratified share of its training samples
(:func:`anaus_mm.datasets.label_subset.select_label_subset`; the test fold
is always whole); ``train_seed`` sets ``randomness.seed`` and ``iters``
fixes the fine-tuning budget (:func:`anaus_mm.engine.budget.
set_iter_budget`). Each fold also writes ``train_subset.txt`` and
``run_info.json`` (subset size, iterations, seconds).
"""
import copy
import hashlib
import json
import os.path as osp
import time
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.config import Config

from ..engine.budget import set_iter_budget
from ..evaluation.paired_stats import mean_std
from ..utils.errors import ConfigValueError
from ..utils.io import atomic_write_text

__all__ = ['set_fold', 'run_fold', 'run_kfold', 'summarize',
           'kfold_markdown', 'read_fold_metrics']

LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def set_fold(cfg: Config, fold: int, num_splits: int, seed: int,
             label_fraction: float = 1.0, subset_seed: int = 0) -> Config:
    """Point every dataloader of ``cfg`` at ``fold`` (wrapping if needed).

    The training loader keeps ``label_fraction`` of its fold, the subset
    chosen by ``subset_seed``.

    Args:
        cfg (Config): Downstream config; changed in place.
        fold (int): 0-based fold index.
        num_splits (int): Number of folds.
        seed (int): Seed of the split.
        label_fraction (float): Share of the training fold kept.
        subset_seed (int): Seed of the label subset.

    Returns:
        Config: ``cfg``.
    """
    for key in LOADERS:
        loader = cfg.get(key)
        if not loader:
            continue
        ds = loader['dataset']
        if ds.get('type') == 'GroupKFoldDataset':
            ds.update(fold=fold, num_splits=num_splits, seed=seed)
        else:
            ds = loader['dataset'] = dict(
                type='GroupKFoldDataset', dataset=ds, fold=fold,
                num_splits=num_splits, seed=seed,
                test_mode=key != 'train_dataloader')
        if key == 'train_dataloader' and (label_fraction != 1 or
                                          'label_fraction' in ds):
            ds.update(label_fraction=label_fraction, subset_seed=subset_seed)
    return cfg


def _train_subset_paths(dataset) -> List[str]:
    """Image path (or index) of every training sample, in order."""
    paths = []
    for i in range(len(dataset)):
        info = dataset.get_data_info(i) if hasattr(
            dataset, 'get_data_info') else {}
        path = info.get('img_path') or info.get('filename')
        paths.append(str(path) if path else f'index {i}')
    return paths


def _number(value) -> Optional[float]:
    """``float(value)``, or None for non-numbers and NaN (JSON has no NaN)."""
    mu, _, n = mean_std([value])
    return mu if n else None


def summarize(per_fold: Dict[int, dict]) -> Tuple[dict, dict]:
    """Mean and sample standard deviation (ddof=1) of every numeric metric
    over the folds where it is defined (NaN / null folds are left out)."""
    keys = []
    for m in per_fold.values():
        keys += [k for k in m if k not in keys]
    mean, std = {}, {}
    for k in keys:
        mu, sd, n = mean_std(m.get(k) for m in per_fold.values())
        if n:
            mean[k], std[k] = round(mu, 4), round(sd, 4)
    return mean, std


def kfold_markdown(config: str, num_splits: int, per_fold: Dict[int, dict],
                   mean: dict, std: dict) -> str:
    """``kfold_summary.md``: one row per fold and the mean ± std."""
    keys = list(mean)
    lines = [f'# k-fold summary: {osp.basename(config)}', '',
             f'{len(per_fold)} of {num_splits} folds finished; mean ± '
             'sample standard deviation over folds.', '',
             '| fold | ' + ' | '.join(keys) + ' |',
             '|---' * (len(keys) + 1) + '|']

    def cell(value):
        value = _number(value)
        return '–' if value is None else f'{value:.2f}'

    for fold, metrics in per_fold.items():
        lines.append(f'| {fold} | ' + ' | '.join(
            cell(metrics.get(k)) for k in keys) + ' |')
    lines.append('| mean ± std | ' + ' | '.join(
        f'{mean[k]:.2f} ± {std[k]:.2f}' for k in keys) + ' |')
    return '\n'.join(lines) + '\n'


def run_fold(cfg: Config, fold: int, work_dir: str, config_name: str,
             num_splits: int = 5, seed: int = 0, label_fraction: float = 1.0,
             subset_seed: int = 0, train_seed: Optional[int] = None,
             iters: Optional[int] = None, pretrained: Optional[str] = None,
             no_checkpoints: bool = False) -> Dict[str, Optional[float]]:
    """Train and test one fold; returns its test metrics (NaN -> None).

    Arguments as in :func:`run_kfold`; the fold runs in
    ``work_dir/fold_<fold>``.
    """
    from ..engine.runner_utils import (build_runner, readable_dataset_errors,
                                       readable_registry_errors)
    from ..utils.cli import adapt_to_device, pretrained_init_cfg
    fcfg = set_fold(copy.deepcopy(cfg), fold, num_splits, seed,
                    label_fraction, subset_seed)
    if iters is not None:
        set_iter_budget(fcfg, iters)
    if train_seed is not None:
        fcfg.setdefault('randomness', {})
        fcfg.randomness['seed'] = train_seed
    if no_checkpoints and fcfg.get('default_hooks'):
        fcfg.default_hooks['checkpoint'] = None
    fcfg.work_dir = osp.join(work_dir, f'fold_{fold}')
    # mmengine keys its logger (and so the log file) by experiment name: two
    # runs of one config within a second must not share it
    tag = hashlib.md5(osp.abspath(fcfg.work_dir).encode()).hexdigest()[:8]
    fcfg.experiment_name = (f'{osp.splitext(osp.basename(config_name))[0]}'
                            f'_fold{fold}_{time.strftime("%Y%m%d_%H%M%S")}'
                            f'_{tag}')
    fcfg.launcher = 'none'
    adapt_to_device(fcfg)
    if pretrained:
        fcfg.model.backbone.init_cfg = pretrained_init_cfg(pretrained)
    start = time.time()
    runner = build_runner(fcfg)
    with readable_registry_errors(), readable_dataset_errors():
        t0 = time.time()
        runner.train()
        train_s = time.time() - t0
        metrics = runner.test()
    paths = _train_subset_paths(runner.train_dataloader.dataset)
    atomic_write_text(osp.join(fcfg.work_dir, 'train_subset.txt'),
                      ''.join(p + '\n' for p in paths))
    info = dict(fold=fold, label_fraction=label_fraction,
                subset_seed=subset_seed,
                train_seed=fcfg.get('randomness', {}).get('seed'),
                num_train=len(paths), iters=int(runner.iter),
                train_s=round(train_s, 2),
                total_s=round(time.time() - start, 2))
    atomic_write_text(osp.join(fcfg.work_dir, 'run_info.json'),
                      json.dumps(info, indent=2))
    return {k: _number(v) for k, v in metrics.items()}


def read_fold_metrics(work_dir: str, num_splits: int) -> Dict[int, dict]:
    """{fold: metrics} of the folds of ``work_dir`` that finished."""
    per_fold = {}
    for fold in range(num_splits):
        path = osp.join(work_dir, f'fold_{fold}', 'metrics.json')
        if osp.isfile(path):
            with open(path) as f:
                per_fold[fold] = json.load(f)
    return per_fold


def run_kfold(cfg: Config, work_dir: str, config_name: str = 'config',
              num_splits: int = 5, folds: Optional[Sequence[int]] = None,
              seed: int = 0, resume: bool = False,
              label_fraction: float = 1.0, subset_seed: int = 0,
              train_seed: Optional[int] = None, iters: Optional[int] = None,
              pretrained: Optional[str] = None,
              no_checkpoints: bool = False) -> dict:
    """Grouped k-fold cross-validation of ``cfg``.

    Args:
        cfg (Config): The downstream config (loaded, options applied).
        work_dir (str): Output folder (``fold_<i>/``, ``kfold_summary.*``).
        config_name (str): Path of the config, for names and summaries.
        num_splits (int): Number of folds (>= 2).
        folds (Sequence[int], optional): Folds to run; None runs all.
        seed (int): Seed of the split.
        resume (bool): Skip folds whose ``metrics.json`` exists.
        label_fraction (float): Share of each training fold, in (0, 1].
        subset_seed (int): Seed of the label subset.
        train_seed (int, optional): ``randomness.seed`` of fine-tuning.
        iters (int, optional): Fine-tuning iterations per fold.
        pretrained (str, optional): Backbone checkpoint.
        no_checkpoints (bool): Save no model checkpoints.

    Returns:
        dict: The summary written to ``kfold_summary.json``.

    Raises:
        ConfigValueError: An argument out of range.
    """
    if num_splits < 2:
        raise ConfigValueError(f'--num-splits must be >= 2, got {num_splits}')
    folds = list(range(num_splits)) if folds is None else list(folds)
    bad = [f for f in folds if not 0 <= f < num_splits]
    if bad:
        raise ConfigValueError(f'--fold must be in [0, {num_splits}), got '
                               f'{bad[0]}')
    if not 0 < label_fraction <= 1:
        raise ConfigValueError(f'--label-fraction must be in (0, 1], got '
                               f'{label_fraction}')
    if iters is not None and iters < 1:
        raise ConfigValueError(f'--iters must be >= 1, got {iters}')
    cfg.setdefault('default_scope', 'mmpretrain')
    for fold in folds:
        path = osp.join(work_dir, f'fold_{fold}', 'metrics.json')
        if resume and osp.isfile(path):
            print(f'fold {fold}: metrics exist, skipped ({path})')
            continue
        metrics = run_fold(cfg, fold, work_dir, config_name, num_splits,
                           seed, label_fraction, subset_seed, train_seed,
                           iters, pretrained, no_checkpoints)
        atomic_write_text(path, json.dumps(metrics, indent=2))
        print(f'fold {fold}: {metrics}')
    per_fold = read_fold_metrics(work_dir, num_splits)
    mean, std = summarize(per_fold)
    summary = dict(config=config_name, num_splits=num_splits, seed=seed,
                   label_fraction=label_fraction, subset_seed=subset_seed,
                   train_seed=train_seed, iters=iters,
                   folds_done=sorted(per_fold),
                   per_fold={str(k): v for k, v in per_fold.items()},
                   mean=mean, std=std)
    atomic_write_text(osp.join(work_dir, 'kfold_summary.json'),
                      json.dumps(summary, indent=2))
    atomic_write_text(osp.join(work_dir, 'kfold_summary.md'),
                      kfold_markdown(config_name, num_splits, per_fold, mean,
                                     std))
    print(f'summary of {len(per_fold)} folds written to {work_dir}/'
          'kfold_summary.{json,md}')
    return summary
