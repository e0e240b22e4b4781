"""Train a model with mmengine's Runner (mmpretrain / mmseg configs).

Examples::

    python tools/train.py configs/anaus_vit-b_pretrain.py
    python tools/train.py CONFIG --work-dir work_dirs/x --amp
    python tools/train.py CONFIG --resume            # latest checkpoint
    python tools/train.py CONFIG --max-iters 300 --batch-size 16 \
        --auto-scale-lr                   # a budget, schedule stretched
    bash tools/dist_train.sh CONFIG 8                # torchrun, 8 processes
"""
import argparse
import os
import os.path as osp

import anaus_mm  # noqa: F401  (installs the compatibility fixes first)
from anaus_mm.utils.cli import (CLIError, DictAction, adapt_to_device,  # noqa
                                check_writable_dir, default_work_dir,
                                load_config,
                                pretrained_init_cfg, run_cli)
from anaus_mm.engine.budget import set_pretrain_budget


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models '
                        '(default: work_dirs/<config name>)')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint, or from the latest '
        'checkpoint of the work dir when no path is given')
    parser.add_argument(
        '--pretrained', metavar='CKPT',
        help="initialise the backbone from a checkpoint: sets model.backbone"
        ".init_cfg=dict(type='Pretrained', checkpoint=CKPT, "
        "prefix='backbone.') (a pre-training checkpoint or the output of "
        'tools/model_converters/extract_backbone.py)')
    parser.add_argument(
        '--max-iters', type=int, metavar='N',
        help='train N iterations: IterBasedTrainLoop with an infinite '
        "sampler, warm-up and cosine stretched from the config's length "
        'to N (anaus_mm.engine.budget.set_pretrain_budget)')
    parser.add_argument('--batch-size', type=int, metavar='B',
                        help='per-process batch size of the training loader')
    parser.add_argument(
        '--auto-scale-lr', action='store_true',
        help='scale the LR linearly with the total batch (processes x '
        "batch) from the config's auto_scale_lr.base_batch_size")
    parser.add_argument(
        '--unsafe-load', action='store_true',
        help='fully unpickle checkpoint files (--resume, --pretrained, '
        'load_from), which can run code: only for files you trust (same as '
        'ANAUS_UNSAFE_LOAD=1; without it they load with weights_only=True)')
    parser.add_argument('--amp', action='store_true',
                        help='enable automatic mixed precision (CUDA only)')
    parser.add_argument('--no-validate', action='store_true',
                        help='skip validation during training')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of the config, key=value, e.g. '
        'train_cfg.max_iters=10 (keys must exist in the config)')
    parser.add_argument('--launcher',
                        choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if args.unsafe_load:
        os.environ['ANAUS_UNSAFE_LOAD'] = '1'
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def merge_args(cfg, args):
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = default_work_dir(args.config)
    adapt_to_device(cfg, amp=args.amp, launcher=args.launcher)
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise CLIError(f'--resume checkpoint not found: {args.resume}')
        cfg.resume = True
        cfg.load_from = args.resume
    if args.pretrained:
        cfg.model.backbone.init_cfg = pretrained_init_cfg(args.pretrained)
    if (args.max_iters, args.batch_size) != (None, None) or \
            args.auto_scale_lr:
        try:
            set_pretrain_budget(cfg, args.max_iters, args.batch_size,
                                scale_lr=args.auto_scale_lr)
        except ValueError as e:
            raise CLIError(f'{args.config}: {e}') from e
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.setdefault('default_scope', 'mmpretrain')
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    cfg = merge_args(cfg, args)
    check_writable_dir(cfg.work_dir)
    from anaus_mm.engine.runner_utils import (build_runner,
                                              init_cpu_distributed,
                                              readable_dataset_errors,
                                              readable_registry_errors)
    init_cpu_distributed(args.launcher)
    runner = build_runner(cfg)
    with readable_registry_errors(), readable_dataset_errors():
        runner.train()


if __name__ == '__main__':
    run_cli(main)
