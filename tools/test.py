"""Test (evaluate) a trained model with mmengine's Runner.

Examples::

    python tools/test.py CONFIG CKPT
    python tools/test.py CONFIG CKPT --out results.pkl --show-dir vis/
    bash tools/dist_test.sh CONFIG CKPT 8
"""
import argparse
import os
import os.path as osp

import anaus_mm  # noqa: F401  (installs the compatibility fixes first)
from anaus_mm.utils.cli import (CLIError, DictAction, adapt_to_device,
                                default_work_dir,
                                check_writable_dir, load_config, run_cli)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs and metrics '
                        '(default: work_dirs/<config name>)')
    parser.add_argument('--out', help='dump the raw predictions to this '
                        'pickle file (.pkl)')
    parser.add_argument('--show-dir', help='save visualised predictions to '
                        'this folder')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of the config, key=value')
    parser.add_argument('--launcher',
                        choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def enable_visualization(cfg, show_dir):
    hooks = cfg.get('default_hooks', {})
    if 'visualization' not in hooks:
        raise CLIError('--show-dir needs a "visualization" entry in the '
                       "config's default_hooks")
    hook = hooks['visualization']
    if hook.get('type') == 'SegVisualizationHook':  # mmseg
        hook['draw'] = True
        hook['interval'] = 1
        cfg.visualizer['save_dir'] = show_dir
    else:  # mmpretrain's VisualizationHook
        hook['enable'] = True
        hook['out_dir'] = show_dir


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise CLIError(f'checkpoint not found: {args.checkpoint}')
    cfg = load_config(args.config, args.cfg_options)
    if cfg.get('test_dataloader') is None or cfg.get('test_cfg') is None:
        raise CLIError(f'{args.config} has no test_dataloader / test_cfg '
                       '(self-supervised pre-training configs are evaluated '
                       'through the downstream configs)')
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = default_work_dir(args.config)
    check_writable_dir(cfg.work_dir)
    adapt_to_device(cfg, launcher=args.launcher)
    cfg.load_from = args.checkpoint
    cfg.resume = False
    cfg.setdefault('default_scope', 'mmpretrain')
    if args.show_dir:
        check_writable_dir(args.show_dir, 'show dir')
        enable_visualization(cfg, args.show_dir)
    if args.out:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise CLIError(f'--out must be a .pkl file, got {args.out}')
        check_writable_dir(osp.dirname(osp.abspath(args.out)), 'out dir')
        evaluator = cfg.test_evaluator
        if isinstance(evaluator, dict):
            evaluator = [evaluator]
        cfg.test_evaluator = list(evaluator) + [
            dict(type='DumpResults', out_file_path=args.out)]

    from anaus_mm.engine.runner_utils import (build_runner,
                                              init_cpu_distributed,
                                              readable_dataset_errors,
                                              readable_registry_errors)
    init_cpu_distributed(args.launcher)
    runner = build_runner(cfg)
    with readable_registry_errors(), readable_dataset_errors():
        metrics = runner.test()
    return 0 if metrics is not None else 1


if __name__ == '__main__':
    run_cli(main)
