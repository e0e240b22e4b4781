"""Benchmark LP-SAM mask generation against SAM's own ways of prompting.

Three methods, same SAM encoder architecture and input size:

* ``lpsam``: LP-SAM stage 2 (latent prompts, all anatomy classes in one
  batched decoder call, merged label map), batches of ``--batch-size``;
* ``sam_amg``: segment-anything's ``SamAutomaticMaskGenerator`` with its
  default 32×32 point grid (one image at a time, as it works);
* ``sam_box``: ``SamPredictor`` with one box prompt per image
  (``set_image`` + ``predict``).

Each method runs in a fresh process (so peak memory is its own): images/s
after ``--warmup`` images, peak memory (CUDA: ``max_memory_allocated``;
CPU: the process's peak RSS), and the ratios LP-SAM / AMG and LP-SAM /
single box. Targets: ≥ 10× the AMG throughput, and within 1.3× of single-box
SAM (``sam_box_time / lpsam_time ≥ 1/1.3``).

Weights are random unless ``--sam-checkpoint`` is given (speed does not
depend on them, except the AMG's post-processing, which scales with the
number of masks kept: random weights keep few, so AMG figures are an upper
bound of its speed).

Example (CPU, a few minutes)::

    python tools/analysis_tools/benchmark_lpsam.py --arch vit_b \\
        --img-size 256 --num-images 6 --amg-images 2 --out results.json
"""
import argparse
import json
import time

import anaus_mm  # noqa: F401
from anaus_mm.utils.cli import CLIError, run_cli
from anaus_mm.utils.io import atomic_write_text


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='LP-SAM vs SAM AMG vs box SAM')
    p.add_argument('--arch', default='vit_b',
                   help='vit_b | vit_l | vit_h | tiny')
    p.add_argument('--img-size', type=int, default=256)
    p.add_argument('--num-classes', type=int, default=6,
                   help='LP-SAM anatomy classes')
    p.add_argument('--num-images', type=int, default=8,
                   help='timed images for lpsam / sam_box')
    p.add_argument('--amg-images', type=int, default=2,
                   help='timed images for the (slow) automatic generator')
    p.add_argument('--warmup', type=int, default=1,
                   help='untimed images (batches for lpsam) first')
    p.add_argument('--batch-size', type=int, default=4,
                   help='LP-SAM batch size')
    p.add_argument('--points-per-side', type=int, default=32)
    p.add_argument('--sam-checkpoint', default=None)
    p.add_argument('--device', default=None)
    p.add_argument('--threads', type=int, default=None,
                   help='torch CPU threads (default: torch\'s choice)')
    p.add_argument('--methods', nargs='+',
                   default=['lpsam', 'sam_amg', 'sam_box'],
                   choices=['lpsam', 'sam_amg', 'sam_box'])
    p.add_argument('--out', help='write the results as JSON here')
    args = p.parse_args(argv)
    if args.num_images < 1 or args.amg_images < 1:
        raise CLIError('--num-images and --amg-images must be >= 1')
    return args


def _images(n, size, seed=0):
    import numpy as np
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    out = []
    for _ in range(n):  # speckled layers + a dark blob, RGB uint8
        img = (60 + 120 * (yy > size * rng.uniform(0.2, 0.5)) +
               rng.normal(0, 25, (size, size)))
        cy, cx = rng.uniform(0.4, 0.8, 2) * size
        img[(yy - cy)**2 + (xx - cx)**2 < (size / 8)**2] = 20
        img = np.clip(img, 0, 255).astype(np.uint8)
        out.append(np.repeat(img[..., None], 3, -1))
    return out


def _peak_mem_mb(device):
    import resource

    import torch
    if device.startswith('cuda'):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _sync(device):
    import torch
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def _build_sam(args, device):
    from segment_anything.modeling import Sam

    from anaus_mm.models.lpsam import LPSAM
    model = LPSAM(stage=1, arch=args.arch, img_size=args.img_size,
                  sam_checkpoint=args.sam_checkpoint)
    sam = Sam(model.image_encoder, model.prompt_encoder, model.mask_decoder,
              pixel_mean=[123.675, 116.28, 103.53],
              pixel_std=[58.395, 57.12, 57.375])
    return sam.to(device).eval()


def run_method(name, args, device):
    """Run one method; return its measurements."""
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    size = args.img_size
    n = args.amg_images if name == 'sam_amg' else args.num_images
    if name == 'lpsam':
        warm = args.warmup * args.batch_size
    else:
        warm = args.warmup
    imgs = _images(n + warm, size)
    with torch.no_grad():
        if name == 'lpsam':
            from anaus_mm.models.lpsam import LPSAM
            model = LPSAM(
                stage=2, arch=args.arch, img_size=size,
                num_classes=args.num_classes,
                sam_checkpoint=args.sam_checkpoint,
                data_preprocessor=dict(
                    type='SegDataPreProcessor',
                    mean=[123.675, 116.28, 103.53],
                    std=[58.395, 57.12, 57.375], bgr_to_rgb=False,
                    size=(size, size))).to(device).eval()

            def step(batch):
                x = [torch.from_numpy(i).permute(2, 0, 1) for i in batch]
                data = model.data_preprocessor(dict(inputs=x), False)
                probs, _ = model.predict_probs(data['inputs'].to(device))
                return model.merge_label_map(probs).cpu()

            bs = args.batch_size
            for i in range(0, warm, bs):
                step(imgs[i:i + bs])
            _sync(device)
            t0 = time.perf_counter()
            for i in range(warm, warm + n, bs):
                step(imgs[i:i + bs])
            _sync(device)
            elapsed = time.perf_counter() - t0
            extra = dict(batch_size=bs, num_classes=args.num_classes)
        else:
            sam = _build_sam(args, device)
            if name == 'sam_amg':
                from segment_anything import SamAutomaticMaskGenerator
                gen = SamAutomaticMaskGenerator(
                    sam, points_per_side=args.points_per_side)
                masks_found = []

                def step(img):
                    masks_found.append(len(gen.generate(img)))
            else:
                import numpy as np
                from segment_anything import SamPredictor
                pred = SamPredictor(sam)
                box = np.array([size * 0.25, size * 0.25, size * 0.75,
                                size * 0.75])

                def step(img):
                    pred.set_image(img)
                    pred.predict(box=box, multimask_output=False)

            for img in imgs[:warm]:
                step(img)
            _sync(device)
            t0 = time.perf_counter()
            for img in imgs[warm:]:
                step(img)
            _sync(device)
            elapsed = time.perf_counter() - t0
            extra = {}
            if name == 'sam_amg':
                extra = dict(points_per_side=args.points_per_side,
                             masks_per_image=masks_found[warm:])
    return dict(method=name, images=n, seconds=elapsed,
                images_per_s=n / elapsed,
                peak_mem_mb=round(_peak_mem_mb(device), 1), **extra)


def _child(name, args, device, queue):
    try:
        queue.put(run_method(name, args, device))
    except Exception as e:  # noqa: BLE001  reported by the parent
        queue.put(dict(method=name, error=f'{type(e).__name__}: {e}'))


def main(argv=None):
    import multiprocessing as mp

    import torch
    args = parse_args(argv)
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    ctx = mp.get_context('spawn')
    results = {}
    for name in args.methods:
        q = ctx.Queue()
        proc = ctx.Process(target=_child, args=(name, args, device, q))
        proc.start()
        res = q.get()
        proc.join()
        if 'error' in res:
            raise CLIError(f'{name} failed: {res["error"]}')
        results[name] = res
        print(f'{name:8s} {res["images_per_s"]:8.3f} images/s  '
              f'({res["images"]} images in {res["seconds"]:.2f} s), '
              f'peak memory {res["peak_mem_mb"]:.0f} MiB', flush=True)
    summary = dict(arch=args.arch, img_size=args.img_size, device=device,
                   threads=args.threads or torch.get_num_threads(),
                   weights=args.sam_checkpoint or 'random',
                   results=results)
    if 'lpsam' in results:
        lp = results['lpsam']['images_per_s']
        if 'sam_amg' in results:
            r = lp / results['sam_amg']['images_per_s']
            summary['lpsam_vs_amg_speedup'] = r
            summary['target_amg_10x_met'] = r >= 10
            print(f'LP-SAM / AMG throughput: {r:.1f}x (target >= 10x)')
        if 'sam_box' in results:
            r = results['sam_box']['images_per_s'] / lp
            summary['lpsam_time_vs_box_sam'] = r
            summary['target_box_1.3x_met'] = r <= 1.3
            print(f'LP-SAM time / single-box SAM time: {r:.2f}x '
                  f'(target <= 1.3x)')
    if args.out:
        atomic_write_text(args.out, json.dumps(summary, indent=2))
        print(f'results: {args.out}')
    return 0


if __name__ == '__main__':
    run_cli(main)
