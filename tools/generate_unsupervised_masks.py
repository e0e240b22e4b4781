"""Write DetCon-style unsupervised label maps for an image folder.

The fallback mask source of ANAUS when no LP-SAM / SAM checkpoint exists
(see ``anaus_mm/datasets/unsupervised_masks.py``)::

    python tools/generate_unsupervised_masks.py --img-dir data/x/images \
        --out-dir data/x/masks_kmeans --method kmeans --clusters 6

One uint8 PNG per image at the same relative path (extension .png), written
atomically; a rerun skips finished images; unreadable images are reported in
``summary.json`` and make the exit code non-zero.
"""
import argparse
import json
import os.path as osp
import sys
import time

import cv2

from anaus_mm.datasets.utils import IMG_EXTENSIONS, list_files
from anaus_mm.utils.cli import CLIError, check_writable_dir, run_cli
from anaus_mm.utils.io import atomic_write_image, atomic_write_text


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--img-dir', required=True)
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--method', choices=['kmeans', 'grid'],
                        default='kmeans')
    parser.add_argument('--clusters', type=int, default=6,
                        help='k-means clusters (kmeans)')
    parser.add_argument('--cells', type=int, default=4,
                        help='grid cells per side (grid)')
    return parser.parse_args(argv)


def main(argv=None):
    from anaus_mm.datasets.unsupervised_masks import unsupervised_mask
    args = parse_args(argv)
    if not osp.isdir(args.img_dir):
        raise CLIError(f'--img-dir is not a folder: {args.img_dir}')
    check_writable_dir(args.out_dir, 'out dir')
    files = list_files(args.img_dir, IMG_EXTENSIONS, recursive=True)
    if not files:
        raise CLIError(f'no images ({", ".join(IMG_EXTENSIONS)}) under '
                       f'{args.img_dir}')
    kwargs = (dict(clusters=args.clusters) if args.method == 'kmeans' else
              dict(cells=args.cells))
    done = skipped = 0
    failures = []
    start = time.time()
    for i, rel in enumerate(files):
        out = osp.join(args.out_dir, osp.splitext(rel)[0] + '.png')
        if osp.isfile(out):
            skipped += 1
            continue
        gray = cv2.imread(osp.join(args.img_dir, rel), cv2.IMREAD_GRAYSCALE)
        if gray is None:
            failures.append(dict(file=rel, reason='unreadable image'))
            continue
        mask = unsupervised_mask(gray, args.method, **kwargs)
        atomic_write_image(out, mask)
        done += 1
        if (i + 1) % 50 == 0 or i + 1 == len(files):
            rate = done / max(time.time() - start, 1e-6)
            print(f'[{i + 1}/{len(files)}] {rate:.1f} images/s', flush=True)
    summary = dict(method=args.method, params=kwargs, done=done,
                   skipped=skipped, failed=len(failures), failures=failures)
    atomic_write_text(osp.join(args.out_dir, 'summary.json'),
                      json.dumps(summary, indent=2))
    print(f'done {done}, skipped {skipped}, failed {len(failures)} -> '
          f'{args.out_dir}')
    for fail in failures[:10]:
        print(f'failed: {fail["file"]}: {fail["reason"]}', file=sys.stderr)
    return 1 if failures else 0


if __name__ == '__main__':
    run_cli(main)
