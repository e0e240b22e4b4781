"""Write what a config's dataset feeds the model as PNG files.

Segmentation configs: image | image with the ground-truth mask overlaid
(:func:`anaus_mm.visualization.draw_label_overlay`, i.e. mmseg's
``SegLocalVisualizer``, class colours from the dataset's palette).
Classification configs: image with its label (mmpretrain's
``UniversalVisualizer``). Samples go through the phase's pipeline (so train
shows augmented views); small images are enlarged (nearest) to at least
``--min-size`` pixels so the overlays stay readable. A dataset wrapped in
``GroupKFoldDataset`` is browsed whole (all folds).

Example::

    python tools/analysis_tools/browse_dataset.py \\
        configs/benchmarks/seg_upernet_r18_busi.py --output-dir vis --num 8
"""
import argparse
import os.path as osp
from typing import TYPE_CHECKING

import anaus_mm  # noqa: F401  (installs the compatibility fixes first)
from anaus_mm.utils.cli import (CLIError, DictAction, check_writable_dir,
                                load_config, run_cli)

if TYPE_CHECKING:
    import numpy as np


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Browse a dataset')
    parser.add_argument('config', help='config file')
    parser.add_argument('--output-dir', required=True,
                        help='folder for the PNG files')
    parser.add_argument('--num', type=int, default=10,
                        help='number of samples (default 10)')
    parser.add_argument('--phase', default='train',
                        choices=['train', 'val', 'test'])
    parser.add_argument('--min-size', type=int, default=256,
                        help='enlarge smaller images to this size')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of the config, key=value (keys must exist)')
    return parser.parse_args(argv)


def write_png(path: str, rgb: 'np.ndarray') -> None:
    """Write an RGB array as PNG atomically (:func:`atomic_write_image`).

    Args:
        path (str): The destination.
        rgb (np.ndarray): The image, RGB channel order.
    """
    from anaus_mm.utils.io import atomic_write_image
    try:
        atomic_write_image(path, rgb[..., ::-1])
    except OSError as e:
        raise CLIError(str(e)) from e


def _enlarge(img, min_size):
    import numpy as np
    factor = max(1, int(np.ceil(min_size / max(1, min(img.shape[:2])))))
    return img.repeat(factor, 0).repeat(factor, 1), factor


def draw_seg(sample: dict, meta: dict, min_size: int) -> 'np.ndarray':
    """Image | image with its ground-truth label map drawn over it.

    Args:
        sample (dict): a pipeline output (``inputs`` BGR tensor,
            ``data_samples`` with ``gt_sem_seg``).
        meta (dict): the dataset's metainfo (``classes``, ``palette``).
        min_size (int): enlarge smaller images to this size (nearest).

    Returns:
        np.ndarray: uint8 RGB ``(H, 2W, 3)`` panel.
    """
    import cv2
    import numpy as np
    from anaus_mm.visualization import draw_label_overlay
    img = sample['inputs'].permute(1, 2, 0).numpy()[..., ::-1].copy()
    img, _ = _enlarge(np.ascontiguousarray(img), min_size)
    # test pipelines load the mask after Resize (evaluation at the original
    # size): bring it to the image's size for the overlay
    gt = sample['data_samples'].gt_sem_seg.data[0].numpy().astype(np.uint8)
    gt = cv2.resize(gt, img.shape[1::-1], interpolation=cv2.INTER_NEAREST)
    overlay = draw_label_overlay(img, gt, meta['palette'], meta['classes'],
                                 opacity=0.5,
                                 with_labels=min(img.shape[:2]) >= 128)
    return np.concatenate([img, overlay], axis=1)


def draw_cls(sample, meta, min_size):
    import numpy as np
    from mmpretrain.visualization import UniversalVisualizer
    img = sample['inputs'].permute(1, 2, 0).numpy()[..., ::-1]
    img, _ = _enlarge(np.ascontiguousarray(img), min_size)
    vis = UniversalVisualizer.get_instance('browse_dataset_cls')
    return vis.visualize_cls(img, sample['data_samples'],
                             classes=meta['classes'], draw_pred=False)


def main(argv=None):
    args = parse_args(argv)
    if args.num < 1:
        raise CLIError(f'--num must be >= 1, got {args.num}')
    cfg = load_config(args.config, args.cfg_options)
    loader = cfg.get(f'{args.phase}_dataloader')
    if not loader:
        raise CLIError(f'{args.config} has no {args.phase}_dataloader')
    check_writable_dir(args.output_dir, 'output dir')
    from mmengine.registry import DefaultScope, init_default_scope
    from anaus_mm.datasets import DatasetLayoutError
    scope = cfg.get('default_scope', 'mmpretrain')
    init_default_scope(scope)
    if scope == 'mmseg':
        from mmseg.registry import DATASETS
        draw = draw_seg
    else:
        from mmpretrain.registry import DATASETS
        draw = draw_cls
    ds_cfg = loader['dataset']
    if ds_cfg.get('type') == 'GroupKFoldDataset':
        ds_cfg = ds_cfg['dataset']  # the whole dataset, not one fold
    try:
        with DefaultScope.overwrite_default_scope(scope):
            dataset = DATASETS.build(ds_cfg)
    except DatasetLayoutError as e:
        raise CLIError(str(e)) from e
    meta = dataset.metainfo
    written = []
    for i in range(min(args.num, len(dataset))):
        sample = dataset[i]
        info = dataset.get_data_info(i)
        name = osp.splitext(osp.basename(info['img_path']))[0]
        path = osp.join(args.output_dir, f'{i:04d}_{name}.png')
        write_png(path, draw(sample, meta, args.min_size))
        written.append(path)
    print(f'{len(written)} images written to {args.output_dir}')


if __name__ == '__main__':
    run_cli(main)
