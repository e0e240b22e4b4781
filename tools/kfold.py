"""Grouped k-fold cross-validation of a downstream config.

Trains and tests every fold (or one with ``--fold``): the config's train /
val / test datasets are wrapped in (or, when already, set up as)
``GroupKFoldDataset`` so that no patient / video lands in two folds. Each
fold runs in ``WORK_DIR/fold_<i>/`` and writes its test metrics to
``WORK_DIR/fold_<i>/metrics.json``; the summary of all finished folds goes to
``WORK_DIR/kfold_summary.json`` and ``kfold_summary.md`` (per-fold metrics,
mean ± sample standard deviation).

Examples::

    python tools/kfold.py configs/benchmarks/seg_upernet_r18_busi.py
    python tools/kfold.py CONFIG --num-splits 5 --fold 2
    python tools/kfold.py CONFIG --resume          # skip finished folds
    python tools/kfold.py CONFIG --pretrained work_dirs/anaus/backbone.pth
"""
import argparse
import copy
import json
import math
import os
import os.path as osp
import sys
import tempfile
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import anaus_mm  # noqa: E402,F401  (installs the compatibility fixes first)
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
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of the config, key=value (keys must exist)')
    return parser.parse_args(argv)


def set_fold(cfg, fold, num_splits, seed):
    """Point every dataloader of ``cfg`` at ``fold`` (wrapping if needed)."""
    for key in LOADERS:
        loader = cfg.get(key)
        if not loader:
            continue
        ds = loader['dataset']
        if ds.get('type') == 'GroupKFoldDataset':
            ds.update(fold=fold, num_splits=num_splits, seed=seed)
        else:
            loader['dataset'] = dict(
                type='GroupKFoldDataset', dataset=ds, fold=fold,
                num_splits=num_splits, seed=seed,
                test_mode=key != 'train_dataloader')
    return cfg


def write_atomic(path, text):
    fd, tmp = tempfile.mkstemp(dir=osp.dirname(path) or '.',
                               prefix='.' + osp.basename(path))
    try:
        with os.fdopen(fd, 'w') as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


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
    fcfg = set_fold(copy.deepcopy(cfg), fold, args.num_splits, args.seed)
    fcfg.work_dir = osp.join(work_dir, f'fold_{fold}')
    fcfg.experiment_name = (f'{osp.splitext(osp.basename(args.config))[0]}'
                            f'_fold{fold}_{time.strftime("%Y%m%d_%H%M%S")}')
    fcfg.launcher = 'none'
    adapt_to_device(fcfg)
    if args.pretrained:
        fcfg.model.backbone.init_cfg = pretrained_init_cfg(args.pretrained)
    check_writable_dir(fcfg.work_dir)
    try:
        runner = build_runner(fcfg)
        with readable_registry_errors():
            runner.train()
            metrics = runner.test()
    except DatasetLayoutError as e:
        raise CLIError(str(e)) from e
    # JSON has no NaN: undefined values (e.g. PPV, nothing predicted) -> null
    return {k: _to_float(v) for k, v in metrics.items()}


def main(argv=None):
    args = parse_args(argv)
    if args.num_splits < 2:
        raise CLIError(f'--num-splits must be >= 2, got {args.num_splits}')
    if args.fold is not None and not 0 <= args.fold < args.num_splits:
        raise CLIError(f'--fold must be in [0, {args.num_splits}), got '
                       f'{args.fold}')
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
        write_atomic(path, json.dumps(metrics, indent=2))
        print(f'fold {fold}: {metrics}')
    per_fold = {}
    for fold in range(args.num_splits):
        path = osp.join(work_dir, f'fold_{fold}', 'metrics.json')
        if osp.isfile(path):
            with open(path) as f:
                per_fold[fold] = json.load(f)
    mean, std = summarize(per_fold)
    summary = dict(config=args.config, num_splits=args.num_splits,
                   seed=args.seed, folds_done=sorted(per_fold),
                   per_fold={str(k): v for k, v in per_fold.items()},
                   mean=mean, std=std)
    write_atomic(osp.join(work_dir, 'kfold_summary.json'),
                 json.dumps(summary, indent=2))
    write_atomic(osp.join(work_dir, 'kfold_summary.md'),
                 markdown(args.config, args.num_splits, per_fold, mean, std))
    print(f'summary of {len(per_fold)} folds written to {work_dir}/'
          'kfold_summary.{json,md}')


if __name__ == '__main__':
    run_cli(main)
