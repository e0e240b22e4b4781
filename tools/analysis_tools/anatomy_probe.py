"""Frozen-backbone anatomy probes (ROI and dense) of one or more backbones.

Examples::

    # random-init ResNet-18 on a simulated folder (images/ + masks/)
    python tools/analysis_tools/anatomy_probe.py data/sim_hard120

    # several methods side by side (NAME=CHECKPOINT; 'none' = random init);
    # the backbone is taken from --config (default: ResNet-18)
    python tools/analysis_tools/anatomy_probe.py data/sim_hard120 \
        --methods random=none anaus=work_dirs/bench/anaus/pretrain/iter_300.pth \
        --config configs/anaus/anaus_resnet18_1xb4-30it_sim-demo.py --out probe.json

Prints one markdown row per method (ROI and dense balanced accuracy ± std
over folds, dense recall per anatomy, in %) and writes every number to
``--out`` (JSON). See :mod:`anaus_mm.evaluation.anatomy_probe` for the
probes, the label rule of the dense cells and the classifier.
"""
import argparse
import json
import os.path as osp
import sys
from typing import Dict, List, Optional

from anaus_mm.utils.cli import CLIError, run_cli


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0])
    parser.add_argument('data_root', help='folder with images/ and masks/')
    parser.add_argument('--methods', nargs='+', default=['random=none'],
                        metavar='NAME=CKPT',
                        help="backbones to probe: NAME=CHECKPOINT, 'none' "
                        'for random init (default: random=none)')
    parser.add_argument('--config', default=None,
                        help='model config whose model.backbone is built '
                        '(default: ResNet-18)')
    parser.add_argument('--img-dir', default='images')
    parser.add_argument('--mask-dir', default='masks')
    parser.add_argument('--size', type=int, default=None,
                        help='resize images to SIZE x SIZE')
    parser.add_argument('--num-images', type=int, default=None,
                        help='use the first N images')
    parser.add_argument('--kinds', nargs='+', default=['roi', 'dense'],
                        choices=['roi', 'dense'])
    parser.add_argument('--folds', type=int, default=5,
                        help='grouped folds over images (default 5)')
    parser.add_argument('--seed', type=int, default=0, help='fold seed')
    parser.add_argument('--init-seed', type=int, default=0,
                        help='seed of a random-init backbone')
    parser.add_argument('--dense-stride', type=int, default=8)
    parser.add_argument('--min-purity', type=float, default=0.5,
                        help='share of a cell its majority anatomy must '
                        'cover (else the cell is ignored)')
    parser.add_argument('--dense-features', default='hypercolumn',
                        choices=['hypercolumn', 'single'])
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch threads (default 1)')
    parser.add_argument('--out', default=None, help='JSON output file')
    return parser.parse_args(argv)


def parse_methods(items: List[str]) -> Dict[str, Optional[str]]:
    """``['a=ckpt', 'random=none']`` -> ``{'a': 'ckpt', 'random': None}``."""
    methods: Dict[str, Optional[str]] = {}
    for item in items:
        name, sep, ckpt = item.partition('=')
        if not sep or not name:
            raise CLIError(f'--methods expects NAME=CHECKPOINT, got {item!r}')
        if name in methods:
            raise CLIError(f'--methods: {name} given twice')
        if ckpt.lower() in ('none', 'random', ''):
            methods[name] = None
        elif not osp.isfile(ckpt):
            raise CLIError(f'checkpoint of {name} not found: {ckpt}')
        else:
            methods[name] = ckpt
    return methods


def main(argv: Optional[List[str]] = None) -> int:
    """Run the probes and print the markdown rows."""
    args = parse_args(argv)
    methods = parse_methods(args.methods)
    if args.folds < 2:
        raise CLIError(f'--folds must be >= 2, got {args.folds}')
    from anaus_mm.evaluation.anatomy_probe import (probe_markdown_header,
                                                   probe_markdown_row,
                                                   run_anatomy_probe)
    from anaus_mm.utils.io import atomic_write_text
    results = {}
    for name, ckpt in methods.items():
        results[name] = run_anatomy_probe(
            ckpt, args.data_root, backbone=args.config,
            img_dir=args.img_dir, mask_dir=args.mask_dir, size=args.size,
            num_images=args.num_images, kinds=args.kinds, folds=args.folds,
            seed=args.seed, init_seed=args.init_seed,
            dense_stride=args.dense_stride, min_purity=args.min_purity,
            dense_features=args.dense_features, device=args.device,
            threads=args.threads)
        print(f'[anatomy_probe] {name}: {results[name]["seconds"]["total"]}'
              ' s', file=sys.stderr, flush=True)
    first = next(iter(results.values()))
    part = first.get('dense') or first.get('roi')
    classes = list(part['recall'])
    lines = probe_markdown_header(classes) + [
        probe_markdown_row(name, res, classes)
        for name, res in results.items()]
    print('\n'.join(lines))
    if args.out:
        atomic_write_text(args.out, json.dumps(results, indent=2) + '\n')
    return 0


if __name__ == '__main__':
    run_cli(main)
