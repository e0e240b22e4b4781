"""Grouped k-fold cross-validation of a downstream config.

Trains and tests every fold (or one with ``--fold``): the config's train /
val / test datasets are wrapped in (or, when already, set up as)
``GroupKFoldDataset`` so that no patient / video lands in two folds. Each
fold runs in ``WORK_DIR/fold_<i>/`` and writes its test metrics to
``WORK_DIR/fold_<i>/metrics.json``; the summary of all finished folds goes to
``WORK_DIR/kfold_summary.json`` and ``kfold_summary.md`` (per-fold metrics,
mean ± sample standard deviation).

Label efficiency: ``--label-fraction F --subset-seed S`` trains each fold on
a grouped, class-stratified share F of its training samples
(:func:`anaus_mm.datasets.label_subset.select_label_subset`; the test fold is
always whole). ``--train-seed`` sets ``randomness.seed`` and ``--iters N``
fixes the fine-tuning budget (see :func:`set_iter_budget`). Every fold also
writes ``train_subset.txt`` (the image of every training sample, one per
line, for audits) and ``run_info.json`` (subset size, iterations, seconds).

Examples::

    python tools/kfold.py configs/benchmarks/seg_upernet_r18_busi.py
    python tools/kfold.py CONFIG --num-splits 5 --fold 2
    python tools/kfold.py CONFIG --resume          # skip finished folds
    python tools/kfold.py CONFIG --pretrained work_dirs/anaus/backbone.pth
    python tools/kfold.py CONFIG --label-fraction 0.1 --subset-seed 1 \
        --train-seed 1 --iters 100
"""
import argparse
import copy
import json
import math
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import anaus_mm  # noqa: E402,F401  (installs the compatibility fixes first)
from anaus_mm.utils.io import atomic_write_text  # noqa: E402
from anaus_mm.utils.cli import (CLIError, DictAction, adapt_to_device,  # noqa
                                check_writable_dir, load_config,
                                pretrained_init_cfg, run_cli)

LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Grouped k-fold cross-validation (train + test per fold)')
    parser.add_argument('config', help='downstream config file')
    parser.add_argument('--num-splits', type=int, default=5,
                        help='number of folds (default 5)')
    parser.add_argument('--fold', type=int, default=None,
                        help='run only this fold (0-based)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the split (default 0)')
    parser.add_argument('--resume', action='store_true',
                        help='skip folds whose metrics.json exists')
    parser.add_argument('--work-dir', help='output folder (default: '
                        'work_dirs/<config name>_kfold)')
    parser.add_argument('--pretrained', metavar='CKPT',
                        help="backbone checkpoint: sets model.backbone."
                        "init_cfg=dict(type='Pretrained', checkpoint=CKPT, "
                        "prefix='backbone.')")
    parser.add_argument('--label-fraction', type=float, default=1.0,
                        metavar='F', help='train on this grouped, stratified '
                        'share of each training fold, 0 < F <= 1 (default '
                        '1.0; the test fold is always whole)')
    parser.add_argument('--subset-seed', type=int, default=0, metavar='S',
                        help='seed of the label subset (default 0)')
    parser.add_argument('--train-seed', type=int, default=None, metavar='S',
                        help="fine-tuning seed (randomness.seed; default: "
                        "the config's)")
    parser.add_argument('--iters', type=int, default=None, metavar='N',
                        help='fine-tune exactly N iterations per fold '
                        '(IterBasedTrainLoop; epoch-based configs are '
                        'converted, schedulers rescaled)')
    parser.add_argument('--no-checkpoints', action='store_true',
                        help='save no model checkpoints (saves disk in '
                        'many-run benchmarks)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of the config, key=value (keys must exist)')
    return parser.parse_args(argv)


def set_fold(cfg, fold, num_splits, seed, label_fraction=1.0,
             subset_seed=0):
    """Point every dataloader of ``cfg`` at ``fold`` (wrapping if needed);
    the training loader keeps ``label_fraction`` of its fold (subset chosen
    by ``subset_seed``)."""
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


def set_iter_budget(cfg, iters):
    """Fine-tune for exactly ``iters`` iterations, whatever the data size.

    ``train_cfg`` becomes ``IterBasedTrainLoop(max_iters=iters,
    val_interval=iters)`` (an epoch-based config is converted: its
    iterations per epoch would shrink with a label subset). Parameter
    schedulers keep their shape: ``begin`` / ``end`` are rescaled from the
    old length (epochs for ``by_epoch`` schedulers of an epoch-based config,
    which become iteration-based; iterations for an iteration-based config)
    to ``iters``; iteration-based warm-ups of an epoch-based config are only
    clipped to ``iters``. Checkpoint and log hooks count iterations.
    Validation during training is switched off: the validation set is the
    test fold, which ``runner.test()`` evaluates once at the end.
    """
    if iters < 1:
        raise CLIError(f'--iters must be >= 1, got {iters}')
    old = cfg.get('train_cfg') or {}
    epoch_based = (old.get('type') == 'EpochBasedTrainLoop' or
                   old.get('by_epoch', False) or 'max_epochs' in old)
    old_len = old.get('max_epochs' if epoch_based else 'max_iters') or iters
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters,
                         val_interval=iters)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    scheds = cfg.get('param_scheduler') or []
    for s in scheds if isinstance(scheds, (list, tuple)) else [scheds]:
        s.pop('convert_to_iter_based', None)
        by_epoch = s.get('by_epoch', True)
        if epoch_based and not by_epoch:
            for k in ('begin', 'end'):
                if k in s:
                    s[k] = min(s[k], iters)
            continue
        for k in ('begin', 'end'):
            if k in s and s[k] < 1e9:
                s[k] = int(round(s[k] * iters / old_len))
        s['by_epoch'] = False
    hooks = cfg.get('default_hooks') or {}
    if hooks.get('checkpoint'):
        hooks['checkpoint'].update(by_epoch=False, interval=iters,
                                   save_best=None)
    cfg.setdefault('log_processor', {})
    cfg.log_processor['by_epoch'] = False
    return cfg


def train_subset_paths(dataset):
    """Image path (or index) of every training sample, in order."""
    paths = []
    for i in range(len(dataset)):
        info = dataset.get_data_info(i) if hasattr(
            dataset, 'get_data_info') else {}
        path = info.get('img_path') or info.get('filename')
        paths.append(str(path) if path else f'index {i}')
    return paths


def _to_float(value):
    """``float(value)``, or None for non-numbers and NaN."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def summarize(per_fold):
    """Mean and sample standard deviation (ddof=1) of every numeric metric
    over the folds where it is defined (NaN / null folds are left out)."""
    keys = []
    for m in per_fold.values():
        keys += [k for k in m if k not in keys]
    mean, std = {}, {}
    for k in keys:
        vals = [_to_float(m.get(k)) for m in per_fold.values()]
        vals = [v for v in vals if v is not None]
        if not vals:
            continue
        mu = sum(vals) / len(vals)
        var = (sum((v - mu) ** 2 for v in vals) / (len(vals) - 1)
               if len(vals) > 1 else 0.0)
        mean[k], std[k] = round(mu, 4), round(math.sqrt(var), 4)
    return mean, std


def markdown(config, num_splits, per_fold, mean, std):
    keys = list(mean)
    lines = [f'# k-fold summary: {osp.basename(config)}', '',
             f'{len(per_fold)} of {num_splits} folds finished; mean ± '
             'sample standard deviation over folds.', '',
             '| fold | ' + ' | '.join(keys) + ' |',
             '|---' * (len(keys) + 1) + '|']
    def cell(value):
        value = _to_float(value)
        return '–' if value is None else f'{value:.2f}'

    for fold, metrics in per_fold.items():
        lines.append(f'| {fold} | ' + ' | '.join(
            cell(metrics.get(k)) for k in keys) + ' |')
    lines.append('| mean ± std | ' + ' | '.join(
        f'{mean[k]:.2f} ± {std[k]:.2f}' for k in keys) + ' |')
    return '\n'.join(lines) + '\n'


def run_fold(cfg, fold, args, work_dir):
    from anaus_mm.datasets import DatasetLayoutError
    from anaus_mm.engine.runner_utils import (build_runner,
                                              readable_registry_errors)
    fcfg = set_fold(copy.deepcopy(cfg), fold, args.num_splits, args.seed,
                    args.label_fraction, args.subset_seed)
    if args.iters is not None:
        set_iter_budget(fcfg, args.iters)
    if args.train_seed is not None:
        fcfg.setdefault('randomness', {})
        fcfg.randomness['seed'] = args.train_seed
    if args.no_checkpoints and fcfg.get('default_hooks'):
        fcfg.default_hooks['checkpoint'] = None
    fcfg.work_dir = osp.join(work_dir, f'fold_{fold}')
    fcfg.experiment_name = (f'{osp.splitext(osp.basename(args.config))[0]}'
                            f'_fold{fold}_{time.strftime("%Y%m%d_%H%M%S")}')
    fcfg.launcher = 'none'
    adapt_to_device(fcfg)
    if args.pretrained:
        fcfg.model.backbone.init_cfg = pretrained_init_cfg(args.pretrained)
    check_writable_dir(fcfg.work_dir)
    start = time.time()
    try:
        runner = build_runner(fcfg)
        with readable_registry_errors():
            t0 = time.time()
            runner.train()
            train_s = time.time() - t0
            metrics = runner.test()
        paths = train_subset_paths(runner.train_dataloader.dataset)
    except DatasetLayoutError as e:
        raise CLIError(str(e)) from e
    atomic_write_text(osp.join(fcfg.work_dir, 'train_subset.txt'),
                 ''.join(p + '\n' for p in paths))
    info = dict(fold=fold, label_fraction=args.label_fraction,
                subset_seed=args.subset_seed,
                train_seed=fcfg.get('randomness', {}).get('seed'),
                num_train=len(paths), iters=int(runner.iter),
                train_s=round(train_s, 2),
                total_s=round(time.time() - start, 2))
    atomic_write_text(osp.join(fcfg.work_dir, 'run_info.json'),
                 json.dumps(info, indent=2))
    # JSON has no NaN: undefined values (e.g. PPV, nothing predicted) -> null
    return {k: _to_float(v) for k, v in metrics.items()}


def main(argv=None):
    args = parse_args(argv)
    if args.num_splits < 2:
        raise CLIError(f'--num-splits must be >= 2, got {args.num_splits}')
    if args.fold is not None and not 0 <= args.fold < args.num_splits:
        raise CLIError(f'--fold must be in [0, {args.num_splits}), got '
                       f'{args.fold}')
    if not 0 < args.label_fraction <= 1:
        raise CLIError(f'--label-fraction must be in (0, 1], got '
                       f'{args.label_fraction}')
    if args.iters is not None and args.iters < 1:
        raise CLIError(f'--iters must be >= 1, got {args.iters}')
    if args.pretrained:
        pretrained_init_cfg(args.pretrained)  # clear error if missing
    cfg = load_config(args.config, args.cfg_options)
    cfg.setdefault('default_scope', 'mmpretrain')
    work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0] + '_kfold')
    check_writable_dir(work_dir)
    folds = ([args.fold] if args.fold is not None
             else list(range(args.num_splits)))
    for fold in folds:
        path = osp.join(work_dir, f'fold_{fold}', 'metrics.json')
        if args.resume and osp.isfile(path):
            print(f'fold {fold}: metrics exist, skipped ({path})')
            continue
        metrics = run_fold(cfg, fold, args, work_dir)
        atomic_write_text(path, json.dumps(metrics, indent=2))
        print(f'fold {fold}: {metrics}')
    per_fold = {}
    for fold in range(args.num_splits):
        path = osp.join(work_dir, f'fold_{fold}', 'metrics.json')
        if osp.isfile(path):
            with open(path) as f:
                per_fold[fold] = json.load(f)
    mean, std = summarize(per_fold)
    summary = dict(config=args.config, num_splits=args.num_splits,
                   seed=args.seed, label_fraction=args.label_fraction,
                   subset_seed=args.subset_seed, train_seed=args.train_seed,
                   iters=args.iters, folds_done=sorted(per_fold),
                   per_fold={str(k): v for k, v in per_fold.items()},
                   mean=mean, std=std)
    atomic_write_text(osp.join(work_dir, 'kfold_summary.json'),
                 json.dumps(summary, indent=2))
    atomic_write_text(osp.join(work_dir, 'kfold_summary.md'),
                 markdown(args.config, args.num_splits, per_fold, mean, std))
    print(f'summary of {len(per_fold)} folds written to {work_dir}/'
          'kfold_summary.{json,md}')


if __name__ == '__main__':
    run_cli(main)
