"""Generate anatomy label maps for a folder of ultrasound images with LP-SAM.

Runs a trained stage-2 LP-SAM (latent prompts, no manual prompts) over every
image under ``--img-dir`` (recursively) and writes one uint8 label PNG per
image to ``--out-dir`` at the same relative path (extension ``.png``) and at
the image's original size: 0 = background, 1..C = anatomy ids.

* Batched (``--batch-size``), images read by ``--num-workers`` loader workers;
  8/16-bit, grayscale, RGB and RGBA inputs are accepted.
* Every file is written atomically (temp file ``.<name>XXXXXXXX.tmp`` +
  ``os.replace``), so an existing PNG is complete: a rerun (e.g. after
  ``kill -9``) skips images whose label PNG (and overlay, with
  ``--show-dir``) exists and removes the temp files the killed run left
  for the images it redoes (resumable).
* An unreadable image is reported and skipped; the run goes on. The exit
  code is 1 when anything failed (2 for bad arguments).
* ``summary.json`` in ``--out-dir``: images done / skipped / failed, pixels
  per class, mean predicted IoU per class, each failure with its reason.
* Distributed (``--launcher pytorch|slurm``): rank *r* of *W* processes the
  sorted file list's shard ``files[r::W]`` and writes
  ``summary.rank<r>.json``; rank 0 waits for all and merges them into
  ``summary.json``.

The inference itself (reading, resizing, the IoU filter, merging the class
maps at the original size) is :class:`anaus_mm.apis.LPSAMInferencer`; this
script adds the folder walk, sharding, resuming, progress and the summary.

Examples::

    python tools/generate_anatomy_masks.py \\
        configs/lpsam/lpsam-stage2_vit-b_1xb32-200e_sim-256.py work_dirs/x/best.pth \\
        --img-dir data/unlabeled --out-dir data/unlabeled_masks \\
        --batch-size 16 --show-dir work_dirs/overlays
    torchrun --nproc_per_node 4 tools/generate_anatomy_masks.py CFG CKPT \\
        --img-dir ... --out-dir ... --launcher pytorch
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

import anaus_mm  # noqa: F401  (compatibility fixes first)
from anaus_mm.apis.lpsam_inferencer import (ImageFolder, LPSAMInferencer,
                                            collate, read_image)
from anaus_mm.datasets.utils import list_files
from anaus_mm.utils.cli import (CLIError, DictAction, check_writable_dir,
                                load_config, run_cli)
from anaus_mm.utils.io import (atomic_write_image, atomic_write_text,
                               leftover_temp_files)


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='Generate anatomy label maps with a stage-2 LP-SAM')
    p.add_argument('config', help='LP-SAM stage-2 config')
    p.add_argument('checkpoint', help='stage-2 checkpoint (.pth)')
    p.add_argument('--img-dir', required=True, help='image folder '
                   '(searched recursively)')
    p.add_argument('--out-dir', required=True, help='label PNG folder')
    p.add_argument('--batch-size', type=int, default=8)
    p.add_argument('--num-workers', type=int, default=2)
    p.add_argument('--score-thr', type=float, default=None,
                   help='background where every class probability is '
                   'below it (default: the model\'s score_thr)')
    p.add_argument('--min-iou', type=float, default=0.0,
                   help='drop a class from an image when its predicted IoU '
                   'is below this (default 0: keep all)')
    p.add_argument('--show-dir', help='also write colour overlays here')
    p.add_argument('--device', default=None,
                   help='cuda / cpu (default: cuda when available)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    p.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'],
                   default='none')
    p.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = p.parse_args(argv)
    if args.batch_size < 1:
        raise CLIError('--batch-size must be >= 1')
    if args.num_workers < 0:
        raise CLIError('--num-workers must be >= 0')
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


# ---------------------------------------------------------------- run
def output_names(rel_paths):
    """``a/b.jpg`` → ``a/b.png``; when two inputs would collide
    (``b.jpg`` and ``b.png``) both keep their extension (``b.jpg.png``)."""
    stems = {}
    for r in rel_paths:
        stems.setdefault(osp.splitext(r)[0].lower(), []).append(r)
    return {
        r: (osp.splitext(r)[0] if len(stems[osp.splitext(r)[0].lower()]) == 1
            else r) + '.png'
        for r in rel_paths
    }


def finished(args: argparse.Namespace, out_name: str) -> bool:
    """An image is done when its label PNG (and overlay, with
    ``--show-dir``) exists: files are written atomically, so an existing
    one is complete."""
    dirs = [args.out_dir] + ([args.show_dir] if args.show_dir else [])
    return all(osp.isfile(osp.join(d, out_name)) for d in dirs)


def remove_leftovers(args: argparse.Namespace, out_names) -> int:
    """Remove the temp files that a killed run left for ``out_names`` (the
    outputs this rank is about to write); other ranks' are left alone.

    Returns:
        int: the number of files removed.
    """
    wanted, removed = set(out_names), 0
    for folder in [args.out_dir] + ([args.show_dir] if args.show_dir else
                                    []):
        for dest, temps in leftover_temp_files(folder).items():
            if dest in wanted:
                for tmp in temps:
                    try:
                        os.remove(tmp)
                        removed += 1
                    except FileNotFoundError:
                        pass
    return removed


def process(args: argparse.Namespace, cfg, rank: int, world: int) -> dict:
    """Label maps of this rank's shard of ``--img-dir``.

    Args:
        args (argparse.Namespace): the parsed command line.
        cfg (Config): the stage-2 LP-SAM config.
        rank (int): this process's rank.
        world (int): the number of processes (images ``rank::world``).

    Returns:
        dict: this rank's statistics (counts, failures, pixels per class,
        IoU sums), merged by :func:`finalize`.
    """
    import numpy as np
    import torch
    from tqdm import tqdm

    if not osp.isdir(args.img_dir):
        raise CLIError(f'--img-dir is not a folder: {args.img_dir}')
    check_writable_dir(args.out_dir, '--out-dir')
    if args.show_dir:
        check_writable_dir(args.show_dir, '--show-dir')
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    if device.startswith('cuda') and world > 1:
        device = f'cuda:{torch.cuda.current_device()}'
    try:
        inferencer = LPSAMInferencer(cfg, args.checkpoint, device=device,
                                     score_thr=args.score_thr)
    except (FileNotFoundError, ValueError) as e:
        raise CLIError(str(e).splitlines()[0]) from e
    names = inferencer.classes
    num_classes = inferencer.model.num_classes

    rel_all = list_files(args.img_dir, recursive=True)
    out_of = output_names(rel_all)
    mine = rel_all[rank::world]
    todo = [r for r in mine if not finished(args, out_of[r])]
    removed = remove_leftovers(args, [out_of[r] for r in todo])
    if removed and rank == 0:
        print(f'removed {removed} temporary files of an interrupted run',
              file=sys.stderr)
    stats = dict(rank=rank, world_size=world, images_total=len(mine),
                 done=0, skipped=len(mine) - len(todo), failed=0,
                 temp_files_removed=removed, failures=[],
                 pixels_per_class={n: 0 for n in names},
                 iou_sum=[0.0] * num_classes,
                 iou_count=[0] * num_classes)
    loader = torch.utils.data.DataLoader(
        ImageFolder(args.img_dir, todo, inferencer.pipeline),
        batch_size=args.batch_size, num_workers=args.num_workers,
        collate_fn=list, shuffle=False)
    bar = tqdm(total=len(todo), disable=rank != 0, unit='img',
               file=sys.stderr, dynamic_ncols=True)
    t0 = time.time()

    def fail(rel, reason):
        stats['failed'] += 1
        stats['failures'].append(dict(image=rel, reason=reason))
        bar.write(f'failed: {rel}: {reason}', file=sys.stderr)

    for batch in loader:
        good = []
        for rel, data, reason in batch:
            if data is None:
                fail(rel, reason)
            else:
                good.append((rel, data))
        if good:
            try:
                probs, ious = inferencer.predict_probs(
                    collate([d for _, d in good])['inputs'])
            except Exception as e:  # noqa: BLE001  e.g. out of memory
                for rel, _ in good:
                    fail(rel, f'inference failed: {type(e).__name__}: {e}')
                good = []
        for (rel, data), p, iou in zip(good, probs, ious) if good else []:
            try:
                label = inferencer.label_map(p, iou, data['ori_shape'],
                                             args.min_iou)
                atomic_write_image(osp.join(args.out_dir, out_of[rel]),
                                   label)
                if args.show_dir:
                    img = read_image(osp.join(args.img_dir, rel))
                    atomic_write_image(osp.join(args.show_dir, out_of[rel]),
                                       inferencer.overlay(img, label))
            except Exception as e:  # noqa: BLE001
                fail(rel, f'{type(e).__name__}: {e}')
                continue
            stats['done'] += 1
            counts = np.bincount(label.ravel(),
                                 minlength=len(names))[:len(names)]
            for n, c in zip(names, counts):
                stats['pixels_per_class'][n] += int(c)
            for c in range(num_classes):
                if counts[c + 1] > 0:
                    stats['iou_sum'][c] += float(iou[c])
                    stats['iou_count'][c] += 1
        bar.update(len(batch))
    bar.close()
    stats['seconds'] = round(time.time() - t0, 3)
    stats['class_names'] = names
    return stats


def finalize(parts, args):
    """Merge per-rank stats into the summary dict."""
    names = parts[0]['class_names']
    c = len(names) - 1
    iou_sum = [sum(p['iou_sum'][i] for p in parts) for i in range(c)]
    iou_cnt = [sum(p['iou_count'][i] for p in parts) for i in range(c)]
    seconds = max(p['seconds'] for p in parts)
    done = sum(p['done'] for p in parts)
    return dict(
        config=args.config, checkpoint=args.checkpoint,
        img_dir=args.img_dir, out_dir=args.out_dir,
        world_size=parts[0]['world_size'],
        images_total=sum(p['images_total'] for p in parts),
        done=done,
        skipped=sum(p['skipped'] for p in parts),
        failed=sum(p['failed'] for p in parts),
        temp_files_removed=sum(p.get('temp_files_removed', 0)
                               for p in parts),
        failures=[f for p in parts for f in p['failures']],
        pixels_per_class={n: sum(p['pixels_per_class'][n] for p in parts)
                          for n in names},
        mean_pred_iou_per_class={
            names[i + 1]: (iou_sum[i] / iou_cnt[i] if iou_cnt[i] else None)
            for i in range(c)},
        mean_pred_iou=(sum(iou_sum) / sum(iou_cnt) if sum(iou_cnt) else
                       None),
        seconds=seconds,
        images_per_s=(done / seconds if seconds > 0 else None))


def write_json(path, obj):
    atomic_write_text(path, json.dumps(obj, indent=2) + '\n')


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    rank, world = 0, 1
    if args.launcher != 'none':
        import torch
        from mmengine.dist import barrier, get_dist_info, init_dist
        if torch.cuda.is_available() or args.launcher != 'pytorch':
            init_dist(args.launcher, backend='nccl'
                      if torch.cuda.is_available() else 'gloo')
        else:  # mmengine's init_dist calls torch.cuda.set_device
            torch.distributed.init_process_group(backend='gloo')
        rank, world = get_dist_info()
    stats = process(args, cfg, rank, world)
    summary_path = osp.join(args.out_dir, 'summary.json')
    if world == 1:
        summary = finalize([stats], args)
        write_json(summary_path, summary)
    else:
        write_json(osp.join(args.out_dir, f'summary.rank{rank}.json'), stats)
        barrier()
        if rank != 0:
            import torch.distributed as dist
            dist.destroy_process_group()
            return 1 if stats['failed'] else 0
        parts = []
        for r in range(world):
            with open(osp.join(args.out_dir, f'summary.rank{r}.json')) as f:
                parts.append(json.load(f))
        summary = finalize(parts, args)
        write_json(summary_path, summary)
    if world > 1:
        import torch.distributed as dist
        dist.destroy_process_group()
    print(f'{summary["done"]} done, {summary["skipped"]} skipped, '
          f'{summary["failed"]} failed ({summary["images_total"]} images); '
          f'summary: {summary_path}')
    return 1 if summary['failed'] else 0


if __name__ == '__main__':
    run_cli(main)
