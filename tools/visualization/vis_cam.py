"""Grad-CAM of a fine-tuned classifier (or segmentor) on images.

Writes ``<name>_cam.png`` per image into ``--out-dir``: the preprocessed
image and the Grad-CAM overlay side by side (enlarged by an integer factor to
at least 256 px high when smaller), with the predicted class, its
score and the explained class written on it. Classifiers (mmpretrain) explain
the logit of the target class; segmentors (mmseg) the sum of the target class
logits over the pixels predicted as that class (Seg-Grad-CAM). The work is
done by :class:`anaus_mm.apis.GradCAMInferencer`, usable from Python, with
the ``grad-cam`` package (the optional extra: ``pip install -e .[cam]``;
without it the tool stops with a one-line error naming the extra).

Examples::

    python tools/visualization/vis_cam.py data/simulated/images \\
        configs/benchmarks/cls_r18_ft_simulated.py work_dirs/ft/epoch_30.pth \\
        --num 8 --out-dir work_dirs/cam
    python tools/visualization/vis_cam.py img.png CONFIG CKPT \\
        --target-layers backbone.layer3 --target-category 1
"""
import argparse
from typing import List, Optional

import anaus_mm  # noqa: F401  (installs the compatibility fixes first)
from anaus_mm.apis.cam_inferencer import GradCAMInferencer, image_files
from anaus_mm.utils.cli import (CLIError, DictAction, check_writable_dir,
                                load_config, run_cli)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (list[str], optional): arguments; defaults to ``sys.argv[1:]``.

    Returns:
        argparse.Namespace: the parsed flags.
    """
    parser = argparse.ArgumentParser(
        description='Grad-CAM of a classifier / segmentor on images')
    parser.add_argument('img', help='an image file or a folder of images')
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--target-layers', nargs='+',
                        default=['backbone.layer4'],
                        help='layer name(s); several are averaged '
                        '(default: backbone.layer4)')
    parser.add_argument('--target-category', type=int, default=None,
                        help='class to explain (default: the predicted one)')
    parser.add_argument('--out-dir', default='work_dirs/vis_cam')
    parser.add_argument('--num', type=int, default=None,
                        help='at most this many images of a folder')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--alpha', type=float, default=0.5,
                        help='weight of the heat map in the overlay')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of the config, key=value')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Write the Grad-CAM panels of the images.

    Args:
        argv (list[str], optional): arguments; defaults to ``sys.argv[1:]``.

    Returns:
        int: the exit code (0).

    Raises:
        AnausError: one-line errors (bad input, config, checkpoint, layer or
            class; the ``[cam]`` extra missing), printed by ``run_cli``.
    """
    args = parse_args(argv)
    try:
        files = image_files(args.img, args.num)
        cfg = load_config(args.config, args.cfg_options)
        inferencer = GradCAMInferencer(cfg, args.checkpoint, args.device,
                                       args.target_layers)
        inferencer.check_target(args.target_category)
    except (FileNotFoundError, ValueError) as e:
        raise CLIError(str(e).splitlines()[0]) from e
    check_writable_dir(args.out_dir, 'output dir')
    for path in files:
        try:
            pred = inferencer(path, args.target_category, args.alpha,
                              args.out_dir)['predictions'][0]
        except ValueError as e:
            raise CLIError(str(e).splitlines()[0]) from e
        print(f'{pred["out_file"]}  ({"; ".join(pred["lines"])})',
              flush=True)
    print(f'wrote {len(files)} Grad-CAM image(s) to {args.out_dir}')
    return 0


if __name__ == '__main__':
    run_cli(main)
