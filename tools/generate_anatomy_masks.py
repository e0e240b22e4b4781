"""Generate anatomy label maps for a folder of ultrasound images with LP-SAM.

Runs a trained stage-2 LP-SAM (latent prompts, no manual prompts) over every
image under ``--img-dir`` (recursively) and writes one uint8 label PNG per
image to ``--out-dir`` at the same relative path (extension ``.png``) and at
the image's original size: 0 = background, 1..C = anatomy ids.

* Batched (``--batch-size``), images read by ``--num-workers`` loader workers;
  8/16-bit, grayscale, RGB and RGBA inputs are accepted.
* Every file is written atomically (temp file + ``os.replace``); a rerun
  skips images whose label PNG exists (resumable).
* An unreadable image is reported and skipped; the run goes on. The exit
  code is 1 when anything failed (2 for bad arguments).
* ``summary.json`` in ``--out-dir``: images done / skipped / failed, pixels
  per class, mean predicted IoU per class, each failure with its reason.
* Distributed (``--launcher pytorch|slurm``): rank *r* of *W* processes the
  sorted file list's shard ``files[r::W]`` and writes
  ``summary.rank<r>.json``; rank 0 waits for all and merges them into
  ``summary.json``.

Examples::

    python tools/generate_anatomy_masks.py \\
        configs/lpsam/lpsam_vit-b_stage2_sim-256.py work_dirs/x/best.pth \\
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

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import anaus_mm  # noqa: E402,F401  (compatibility fixes first)
from anaus_mm.utils.io import atomic_write_bytes  # noqa: E402
from anaus_mm.utils.cli import (CLIError, DictAction, check_writable_dir,  # noqa: E402,E501
                                load_config, run_cli)

IMG_EXTS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff')


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


# ---------------------------------------------------------------- files
def list_images(img_dir):
    """Sorted relative paths of the images under ``img_dir``."""
    out = []
    for root, dirs, files in os.walk(img_dir):
        dirs.sort()
        for f in files:
            if f.lower().endswith(IMG_EXTS) and not f.startswith('.'):
                out.append(osp.relpath(osp.join(root, f), img_dir))
    return sorted(out)


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


def read_image(path):
    """Read any supported image as uint8 BGR (H, W, 3); raise ValueError."""
    import cv2
    import numpy as np
    if osp.getsize(path) == 0:
        raise ValueError('empty file')
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError('cannot decode image (truncated or not an image)')
    if img.dtype != np.uint8:  # 16-bit / float: min-max to 8 bit
        f = img.astype(np.float32)
        lo, hi = float(np.nanmin(f)), float(np.nanmax(f))
        f = (f - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(f)
        img = np.nan_to_num(f).round().astype(np.uint8)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    elif img.shape[2] == 1:
        img = cv2.cvtColor(img[..., 0], cv2.COLOR_GRAY2BGR)
    elif img.shape[2] != 3:
        raise ValueError(f'unsupported channel count {img.shape[2]}')
    return img


class ImageFolder:
    """Map-style dataset: (rel path, resized CHW uint8 tensor, (H, W)) or
    (rel path, None, error message)."""

    def __init__(self, root, rel_paths, size):
        self.root, self.rel_paths, self.size = root, rel_paths, size

    def __len__(self):
        return len(self.rel_paths)

    def __getitem__(self, i):
        import cv2
        import torch
        rel = self.rel_paths[i]
        try:
            img = read_image(osp.join(self.root, rel))
        except Exception as e:  # noqa: BLE001  reported, never fatal
            return rel, None, f'{type(e).__name__}: {e}'
        h, w = img.shape[:2]
        small = cv2.resize(img, (self.size, self.size),
                           interpolation=cv2.INTER_LINEAR)
        return rel, torch.from_numpy(small).permute(2, 0, 1).contiguous(), \
            (h, w)


def collate(batch):
    return batch


# ---------------------------------------------------------------- model
def build_model(cfg, checkpoint, device, score_thr):
    import torch
    from mmengine.registry import init_default_scope
    from mmengine.runner.checkpoint import _load_checkpoint
    from mmseg.registry import MODELS
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    mcfg = cfg.model.copy()
    if mcfg.get('type') != 'LPSAM' or mcfg.get('stage', 1) != 2:
        raise CLIError(f'mask generation needs an LP-SAM stage-2 config '
                       f'(model.type LPSAM, stage 2); got type '
                       f'{mcfg.get("type")}, stage {mcfg.get("stage", 1)}')
    mcfg.sam_checkpoint = None  # every weight comes from the checkpoint
    mcfg.stage1_checkpoint = None
    if score_thr is not None:
        mcfg.score_thr = score_thr
    model = MODELS.build(mcfg)
    if not osp.isfile(checkpoint):
        raise CLIError(f'checkpoint not found: {checkpoint}')
    try:
        ckpt = _load_checkpoint(checkpoint, map_location='cpu')
    except Exception as e:
        raise CLIError(f'cannot read checkpoint {checkpoint}: '
                       f'{type(e).__name__}: {e}'.splitlines()[0]) from e
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise CLIError(f'checkpoint {checkpoint} holds no state dict')
    state = {k[7:] if k.startswith('module.') else k: v
             for k, v in state.items()}
    own = model.state_dict()
    bad = [k for k in state if k in own and own[k].shape != state[k].shape]
    if bad:
        k = bad[0]
        raise CLIError(f'checkpoint {checkpoint} does not fit {cfg.filename}'
                       f': "{k}" is {tuple(state[k].shape)} there but '
                       f'{tuple(own[k].shape)} in the model')
    missing = [k for k in own if k not in state]
    if missing:
        raise CLIError(f'checkpoint {checkpoint} lacks {len(missing)} keys '
                       f'of the stage-2 model, e.g. {missing[:3]} (is it a '
                       f'stage-2 checkpoint?)')
    model.load_state_dict(state, strict=False)
    return model.to(device).eval()


def class_meta(cfg, num_classes):
    """(names, palette) of ids 0..C from the config's dataset metainfo."""
    names, palette = None, None
    for key in ('test_dataloader', 'val_dataloader', 'train_dataloader'):
        meta = (cfg.get(key) or {}).get('dataset', {}).get('metainfo')
        if meta and meta.get('classes'):
            names, palette = list(meta['classes']), meta.get('palette')
            break
    if not names or len(names) != num_classes + 1:
        names = ['background'] + [f'class_{i}'
                                  for i in range(1, num_classes + 1)]
    if not palette or len(palette) != num_classes + 1:
        import numpy as np
        rng = np.random.RandomState(42)
        palette = [[0, 0, 0]] + rng.randint(
            40, 255, (num_classes, 3)).tolist()
    return names, [list(map(int, p)) for p in palette]


def overlay(img_bgr, label, palette):
    import numpy as np
    colors = np.array(palette, np.uint8)[:, ::-1]  # RGB → BGR
    col = colors[label]
    out = img_bgr.copy()
    fg = label > 0
    out[fg] = (0.5 * img_bgr[fg] + 0.5 * col[fg]).astype(np.uint8)
    return out


# ---------------------------------------------------------------- run
class Progress:

    def __init__(self, total, enabled):
        self.total, self.enabled = total, enabled
        self.count, self.start = 0, time.time()

    def update(self, n):
        self.count += n
        if not self.enabled:
            return
        el = time.time() - self.start
        rate = self.count / el if el > 0 else 0.0
        eta = (self.total - self.count) / rate if rate > 0 else 0.0
        print(f'\r[{self.count}/{self.total}] {rate:.2f} images/s, '
              f'elapsed {el:.0f}s, ETA {eta:.0f}s', end='',
              file=sys.stderr, flush=True)

    def close(self):
        if self.enabled:
            print(file=sys.stderr, flush=True)


def process(args, cfg, rank, world):
    import cv2
    import numpy as np
    import torch
    import torch.nn.functional as F

    if not osp.isdir(args.img_dir):
        raise CLIError(f'--img-dir is not a folder: {args.img_dir}')
    check_writable_dir(args.out_dir, '--out-dir')
    if args.show_dir:
        check_writable_dir(args.show_dir, '--show-dir')
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    if device.startswith('cuda') and world > 1:
        device = f'cuda:{torch.cuda.current_device()}'
    model = build_model(cfg, args.checkpoint, device, args.score_thr)
    names, palette = class_meta(cfg, model.num_classes)

    rel_all = list_images(args.img_dir)
    out_of = output_names(rel_all)
    mine = rel_all[rank::world]
    todo = [r for r in mine if not osp.isfile(osp.join(args.out_dir,
                                                       out_of[r]))]
    stats = dict(rank=rank, world_size=world, images_total=len(mine),
                 done=0, skipped=len(mine) - len(todo), failed=0,
                 failures=[],
                 pixels_per_class={n: 0 for n in names},
                 iou_sum=[0.0] * model.num_classes,
                 iou_count=[0] * model.num_classes)
    loader = torch.utils.data.DataLoader(
        ImageFolder(args.img_dir, todo, model.img_size),
        batch_size=args.batch_size, num_workers=args.num_workers,
        collate_fn=collate, shuffle=False)
    bar = Progress(len(todo), enabled=rank == 0)
    t0 = time.time()

    def fail(rel, reason):
        stats['failed'] += 1
        stats['failures'].append(dict(image=rel, reason=reason))
        print(f'\nfailed: {rel}: {reason}', file=sys.stderr, flush=True)

    for batch in loader:
        good = [b for b in batch if b[1] is not None]
        for rel, _, reason in batch:
            if _ is None:
                fail(rel, reason)
        if good:
            try:
                with torch.no_grad():
                    data = model.data_preprocessor(
                        dict(inputs=[b[1] for b in good]), False)
                    probs, ious = model.predict_probs(
                        data['inputs'].to(device))
            except Exception as e:  # noqa: BLE001  e.g. out of memory
                for rel, _, _ in good:
                    fail(rel, f'inference failed: {type(e).__name__}: {e}')
                good = []
            for (rel, _, (h, w)), p, iou in zip(good, probs, ious) \
                    if good else []:
                try:
                    keep = iou >= args.min_iou
                    p = p * keep[:, None, None].to(p)
                    p = F.interpolate(p[None], size=(h, w), mode='bilinear',
                                      align_corners=False)
                    label = model.merge_label_map(p)[0].to(
                        torch.uint8).cpu().numpy()
                    ok, buf = cv2.imencode('.png', label)
                    if not ok:
                        raise RuntimeError('PNG encoding failed')
                    atomic_write_bytes(osp.join(args.out_dir, out_of[rel]),
                                 buf.tobytes())
                    if args.show_dir:
                        img = read_image(osp.join(args.img_dir, rel))
                        ok, buf = cv2.imencode(
                            '.png', overlay(img, label, palette))
                        atomic_write_bytes(osp.join(args.show_dir, out_of[rel]),
                                     buf.tobytes())
                except Exception as e:  # noqa: BLE001
                    fail(rel, f'{type(e).__name__}: {e}')
                    continue
                stats['done'] += 1
                counts = np.bincount(label.ravel(),
                                     minlength=len(names))[:len(names)]
                for n, c in zip(names, counts):
                    stats['pixels_per_class'][n] += int(c)
                for c in range(model.num_classes):
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
    atomic_write_bytes(path, (json.dumps(obj, indent=2) + '\n').encode())


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
