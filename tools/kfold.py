"""Grouped k-fold cross-validation of a downstream config.

Trains and tests every fold (or one with ``--fold``) with
:func:`anaus_mm.benchmark.kfold.run_kfold`: no patient / video lands in two
folds; each fold writes ``WORK_DIR/fold_<i>/metrics.json`` and the summary
goes to ``WORK_DIR/kfold_summary.{json,md}`` (per-fold metrics, mean ±
sample standard deviation).

Examples::

    python tools/kfold.py configs/benchmarks/seg_upernet_r18_busi.py
    python tools/kfold.py CONFIG --num-splits 5 --fold 2
    python tools/kfold.py CONFIG --resume          # skip finished folds
    python tools/kfold.py CONFIG --pretrained work_dirs/anaus/backbone.pth
    python tools/kfold.py CONFIG --label-fraction 0.1 --subset-seed 1 \
        --train-seed 1 --iters 100
"""
import argparse
import os.path as osp

import anaus_mm  # noqa: F401  (installs the compatibility fixes first)
from anaus_mm.benchmark.kfold import run_kfold
from anaus_mm.utils.cli import (DictAction, check_writable_dir,
                                default_work_dir, load_config,
                                pretrained_init_cfg, run_cli)


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
                        '(IterBasedTrainLoop with an infinite sampler; '
                        'epoch-based configs are converted, schedulers '
                        'rescaled)')
    parser.add_argument('--no-checkpoints', action='store_true',
                        help='save no model checkpoints (saves disk in '
                        'many-run benchmarks)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of the config, key=value (keys must exist)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.pretrained:
        pretrained_init_cfg(args.pretrained)  # clear error if missing
    cfg = load_config(args.config, args.cfg_options)
    work_dir = args.work_dir or cfg.get('work_dir') or default_work_dir(
        args.config, '_kfold')
    check_writable_dir(work_dir)
    run_kfold(cfg, work_dir, args.config, num_splits=args.num_splits,
              folds=None if args.fold is None else [args.fold],
              seed=args.seed, resume=args.resume,
              label_fraction=args.label_fraction,
              subset_seed=args.subset_seed, train_seed=args.train_seed,
              iters=args.iters, pretrained=args.pretrained,
              no_checkpoints=args.no_checkpoints)


if __name__ == '__main__':
    run_cli(main)
