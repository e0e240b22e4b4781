"""Per-anatomy Dice of LP-SAM models on held-out images (the LP-SAM story).

Examples::

    # zero-shot stand-in (a stage-1 model before training: ground-truth
    # boxes, SAM's own encoder), stage 1 (adapters, same boxes) and stage 2
    # (latent prompts, no prompts) on a held-out simulated folder
    python tools/analysis_tools/eval_lpsam.py data/lpsam_target_test \
        --run zero-shot configs/lpsam/lpsam-stage1_mini_1xb4-300it_sim-128.py \
        --run "stage 1" configs/lpsam/lpsam-stage1_mini_1xb4-300it_sim-128.py \
              work_dirs/lpsam-stage1_mini_1xb4-300it_sim-128 \
        --run "stage 2" configs/lpsam/lpsam-stage2_mini_1xb4-1800it_sim-128.py \
              work_dirs/lpsam-stage2_mini_1xb4-1800it_sim-128 \
        --out work_dirs/lpsam_story/story.json

Each ``--run NAME CONFIG [CHECKPOINT]`` is one row (a checkpoint file or a
work dir; none = the weights the config builds). Prints a markdown table
(Dice % per anatomy, the anatomy's share of the pixels in the header, and
stage 2 / stage 1 against the 85 % target) and writes every number to
``--out`` (JSON) and the table next to it (``.md``). See
:mod:`anaus_mm.evaluation.lpsam_eval`.
"""
import argparse
import json
import os.path as osp
from typing import List, Optional

from anaus_mm.utils.cli import CLIError, DictAction, run_cli


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('data_root', help='folder with images/ and masks/')
    parser.add_argument('--run', nargs='+', action='append', required=True,
                        metavar='ARG', help='NAME CONFIG [CHECKPOINT]')
    parser.add_argument('--stage1', default='stage 1',
                        help='row compared with --stage2 (default "stage 1")')
    parser.add_argument('--stage2', default='stage 2',
                        help='prompt-free row (default "stage 2")')
    parser.add_argument('--batch-size', type=int, default=None)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='overrides applied to every run')
    parser.add_argument('--out', help='JSON with every number (the table is '
                        'written next to it as .md)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Evaluate every run and print the table."""
    args = parse_args(argv)
    runs = []
    for spec in args.run:
        if len(spec) not in (2, 3):
            raise CLIError(f'--run {" ".join(spec)}: expected NAME CONFIG '
                           '[CHECKPOINT]')
        if not osp.isfile(spec[1]):
            raise CLIError(f'--run {spec[0]}: config not found: {spec[1]}')
        runs.append((spec[0], spec[1], spec[2] if len(spec) == 3 else None))
    if not osp.isdir(osp.join(args.data_root, 'masks')):
        raise CLIError(f'{args.data_root}: no masks/ folder (expected the '
                       'simulator layout images/ + masks/)')
    from anaus_mm.evaluation.lpsam_eval import (class_shares, per_class_dice,
                                                story_table)
    results = {}
    for name, config, ckpt in runs:
        print(f'[eval_lpsam] {name}: {config}' +
              (f' + {ckpt}' if ckpt else ' (weights the config builds)'),
              flush=True)
        results[name] = per_class_dice(config, ckpt, args.data_root,
                                       args.cfg_options, args.batch_size,
                                       args.device)
        print(f'[eval_lpsam] {name}: {results[name]["images"]} images in '
              f'{results[name]["seconds"]:.1f} s', flush=True)
    classes = ['background', *next(iter(results.values()))['dice']]
    shares = class_shares(args.data_root, classes)
    table = story_table(results, args.stage1, args.stage2, shares)
    print(table)
    if args.out:
        from anaus_mm.utils.io import atomic_write_text
        atomic_write_text(args.out, json.dumps(
            dict(data_root=args.data_root, shares=shares, runs=results),
            indent=1))
        atomic_write_text(osp.splitext(args.out)[0] + '.md', table + '\n')
        print(f'[eval_lpsam] wrote {args.out}')
    return 0


if __name__ == '__main__':
    run_cli(main)
