"""Export a stage-0 LP-SAM checkpoint (the SAM stand-in) in the official SAM
layout, loadable as ``model.sam_checkpoint`` exactly like Meta's files.

Example::

    python tools/model_converters/export_sam.py \
        work_dirs/sam-standin_mini_1xb8-3000it_sim-linear-128 \
        checkpoints/sam-standin_mini_sim-linear-128.pth

Writes the bare state dict (``image_encoder.*``, ``prompt_encoder.*``,
``mask_decoder.*``; float32) and ``<dst>.json`` (source, architecture and
input size read from the run's config, tensor count, size, sha256), both
atomically; prints the sha256. See
:func:`anaus_mm.models.lpsam.checkpoint.export_sam_checkpoint`.
"""
import argparse
import glob
import os.path as osp
from typing import List, Optional

from anaus_mm.utils.cli import run_cli


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='stage-0 checkpoint or its work dir')
    parser.add_argument('dst', help='the .pth to write')
    parser.add_argument('--note', default=None,
                        help='free text stored in the sidecar JSON (e.g. the '
                        'commands that made the checkpoint)')
    return parser.parse_args(argv)


def _run_config(src: str) -> Optional[str]:
    """The config mmengine saved in the work dir of ``src``, if any."""
    folder = src if osp.isdir(src) else osp.dirname(src)
    found = sorted(glob.glob(osp.join(folder, '*.py')))
    return found[0] if found else None


def main(argv: Optional[List[str]] = None) -> int:
    """Export and print the sidecar."""
    args = parse_args(argv)
    from anaus_mm.models.lpsam.checkpoint import export_sam_checkpoint
    meta = {}
    cfg_path = _run_config(args.src)
    if cfg_path:
        from mmengine.config import Config
        model = Config.fromfile(cfg_path).model
        meta.update(arch=model.get('arch'), img_size=model.get('img_size'),
                    config=osp.basename(cfg_path))
    if args.note:
        meta['note'] = args.note
    info = export_sam_checkpoint(args.src, args.dst, meta)
    print(f'[export_sam] {args.dst}: {info["tensors"]} tensors, '
          f'{info["parameters"]:,} parameters, {info["bytes"] / 1e6:.2f} MB, '
          f'sha256 {info["sha256"]}')
    return 0


if __name__ == '__main__':
    run_cli(main)
