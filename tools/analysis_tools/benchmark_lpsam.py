"""Benchmark LP-SAM mask generation against SAM's own ways of prompting.

Three methods, same SAM encoder architecture and input size:

* ``lpsam``: LP-SAM stage 2 (latent prompts, all anatomy classes in one
  batched decoder call, merged label map), batches of ``--batch-size``;
* ``sam_amg``: segment-anything's ``SamAutomaticMaskGenerator`` with a
  ``--points-per-side``² point grid (one image at a time, as it works);
* ``sam_box``: ``SamPredictor`` with one box prompt per image
  (``set_image`` + ``predict``).

Each method runs in a fresh process (so peak memory is its own; not with
``--same-process``): images/s and ms/image after ``--warmup`` images, a
profile per image (preprocess / encoder / decoder / post-processing), the
prompts decoded per image, the masks the generator keeps per image, peak
memory (CUDA: ``max_memory_allocated``; CPU: the process's peak RSS), and
the ratios LP-SAM / generator and LP-SAM / single box (throughput). Targets:
>= 10x the generator's throughput (aim >= 30x), and LP-SAM time within 1.3x
of single-box SAM.

Weights: ``--sam-checkpoint`` (an official-layout SAM state dict: Meta's
files or the simulator-trained stand-in) for SAM and LP-SAM's SAM parts;
``--lpsam-checkpoint`` (a stage-2 ``.pth`` or work dir) for LP-SAM. Without
them the weights are random, and the output says so (random weights keep
no masks, so the generator skips most of its post-processing).

Images: ``--img-dir`` (real images, e.g. a simulated set's ``images/``,
resized to ``--img-size``), else synthetic ones.

The measuring is :mod:`anaus_mm.benchmark.lpsam_speed`.

Examples::

    # the generator on real masks: stand-in SAM weights, simulated images
    python tools/analysis_tools/benchmark_lpsam.py --arch tiny \\
        --img-size 128 --sam-checkpoint standin.pth \\
        --lpsam-checkpoint work_dirs/lpsam_stage2 --img-dir data/demo/images \\
        --out results.json
    # random ViT-B weights (CPU, a few minutes)
    python tools/analysis_tools/benchmark_lpsam.py --arch vit_b \\
        --img-size 256 --num-images 6 --amg-images 2 --out results.json
"""
import argparse
import json

import anaus_mm  # noqa: F401
from anaus_mm.utils.cli import CLIError, run_cli
from anaus_mm.utils.io import atomic_write_text

DEFAULTS = dict(arch='vit_b', img_size=256, num_classes=6)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='LP-SAM vs SAM AMG vs box SAM')
    p.add_argument('--arch', default=None,
                   help='SAM architecture preset: vit_b | vit_l | vit_h | '
                   'tiny | ... (default: the LP-SAM checkpoint\'s, else '
                   'vit_b)')
    p.add_argument('--img-size', type=int, default=None,
                   help='input size of all methods (default: the LP-SAM '
                   'checkpoint\'s, else 256)')
    p.add_argument('--num-classes', type=int, default=None,
                   help='LP-SAM anatomy classes (default: the LP-SAM '
                   'checkpoint\'s, else 6)')
    p.add_argument('--num-images', type=int, default=8,
                   help='timed images for lpsam / sam_box')
    p.add_argument('--amg-images', type=int, default=2,
                   help='timed images for the (slow) automatic generator')
    p.add_argument('--warmup', type=int, default=1,
                   help='untimed images (batches for lpsam) first')
    p.add_argument('--batch-size', type=int, default=4,
                   help='LP-SAM batch size')
    p.add_argument('--points-per-side', type=int, default=32)
    p.add_argument('--points-per-batch', type=int, default=64,
                   help='points the generator decodes per call (SAM: 64)')
    p.add_argument('--sam-checkpoint', default=None,
                   help='official-layout SAM state dict (Meta\'s or the '
                   'stand-in); default: random weights')
    p.add_argument('--lpsam-checkpoint', default=None,
                   help='stage-2 LP-SAM checkpoint (.pth or work dir)')
    p.add_argument('--img-dir', default=None,
                   help='folder of real images (recursive); default: '
                   'synthetic images')
    p.add_argument('--device', default=None)
    p.add_argument('--threads', type=int, default=None,
                   help='torch CPU threads (default: torch\'s choice)')
    p.add_argument('--methods', nargs='+',
                   default=['lpsam', 'sam_amg', 'sam_box'],
                   choices=['lpsam', 'sam_amg', 'sam_box'])
    p.add_argument('--same-process', action='store_true',
                   help='run every method in this process (faster start; '
                   'no per-method peak memory)')
    p.add_argument('--out', help='write the results as JSON here')
    args = p.parse_args(argv)
    if args.num_images < 1 or args.amg_images < 1:
        raise CLIError('--num-images and --amg-images must be >= 1')
    return args


def make_settings(args):
    """:class:`SpeedSettings` from the command line and the LP-SAM
    checkpoint (its classes, and its arch / size when it saved its
    config)."""
    from anaus_mm.benchmark.lpsam_speed import (SpeedSettings,
                                                lpsam_checkpoint_info)
    info = {}
    if args.lpsam_checkpoint:
        try:
            info = lpsam_checkpoint_info(args.lpsam_checkpoint)
        except (FileNotFoundError, ValueError) as e:
            raise CLIError(str(e).splitlines()[0]) from e
        if args.num_classes not in (None, info['num_classes']):
            raise CLIError(
                f'--num-classes {args.num_classes}, but the LP-SAM checkpoint '
                f'{info["file"]} has {info["num_classes"]} classes')

    def pick(name):
        value = getattr(args, name)
        return value if value is not None else info.get(name,
                                                        DEFAULTS[name])

    settings = SpeedSettings(
        arch=pick('arch'), img_size=pick('img_size'),
        num_classes=pick('num_classes'), num_images=args.num_images,
        amg_images=args.amg_images, warmup=args.warmup,
        batch_size=args.batch_size, points_per_side=args.points_per_side,
        points_per_batch=args.points_per_batch,
        sam_checkpoint=args.sam_checkpoint,
        lpsam_checkpoint=info.get('file'), img_dir=args.img_dir,
        threads=args.threads, lpsam_model=info.get('model', {}))
    if info.get('img_size') not in (None, settings.img_size):
        print(f'note: the LP-SAM checkpoint was trained at '
              f'{info["img_size"]}px; its position tables are resized to '
              f'{settings.img_size}px', flush=True)
    try:
        settings.check()
    except ValueError as e:
        raise CLIError(str(e)) from e
    return settings


def main(argv=None):
    import torch

    from anaus_mm.benchmark.lpsam_speed import format_report, run
    args = parse_args(argv)
    settings = make_settings(args)
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    summary = run(settings, args.methods, device,
                  isolated=not args.same_process,
                  log=lambda line: print(line, flush=True))
    print(format_report(summary))
    if args.out:
        atomic_write_text(args.out, json.dumps(summary, indent=2) + '\n')
        print(f'results: {args.out}')
    return 0


if __name__ == '__main__':
    run_cli(main)
