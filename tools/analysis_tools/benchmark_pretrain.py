"""Time whole pre-training steps of ANAUS against BYOL, DenseCL and MAE.

Every algorithm gets the same backbone, batch and resolution; the batch is
built once (data already in memory: views made by ``AnatomyPairedViews`` from
synthetic image/label pairs, then the data preprocessor), so a step is
forward + backward + optimizer (LARS) + EMA/queue updates. Warm-up steps are
excluded; the median of ``--steps`` (>= 10) timed steps is reported.

Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` during the timed
steps; on CPU each algorithm runs in a fresh subprocess and the peak resident
set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) is read before the
first step (model, optimizer and batch built) and after the last one: the
delta is the memory the training steps add (activations, gradients,
optimizer state, allocator caching).

Example::

    python tools/analysis_tools/benchmark_pretrain.py --algos anaus byol \
        densecl --backbone resnet18 --batch-size 8 --img-size 128 --steps 10
"""
import argparse
import json
import os.path as osp
import statistics
import subprocess
import sys
import time

import anaus_mm  # noqa: F401  (compatibility fixes first)
from anaus_mm.utils.cli import CLIError, run_cli

ALGOS = ('anaus', 'byol', 'densecl', 'mae')
PRE = dict(type='SelfSupDataPreprocessor', mean=[123.675, 116.28, 103.53],
           std=[58.395, 57.12, 57.375], to_rgb=True)


def backbone_cfg(name, img_size, multi_scale):
    if name == 'resnet18':
        return dict(type='ResNet', depth=18, norm_cfg=dict(type='BN'),
                    out_indices=(0, 1, 2, 3) if multi_scale else (3, )), 512
    return dict(type='VisionTransformer', arch='b', img_size=img_size,
                patch_size=16, out_type='featmap' if multi_scale else
                'avg_featmap', out_indices=-1), 768


def model_cfg(algo, backbone, img_size):
    bb, dim = backbone_cfg(backbone, img_size, algo == 'anaus')
    if algo == 'anaus':
        # as in the configs: FPN width 128 for R-18, 256 for ViT-B
        width = 128 if backbone == 'resnet18' else 256
        neck = (dict(type='mmseg.FPN', in_channels=[64, 128, 256, 512],
                     out_channels=width, num_outs=4) if backbone == 'resnet18' else
                dict(type='SimpleFeaturePyramid', in_channels=768,
                     out_channels=width))
        return dict(type='ANAUS', backbone=bb, neck=neck,
                    data_preprocessor=PRE,
                    projector=dict(type='RoIMLP', in_channels=width,
                                   hid_channels=1024, out_channels=256),
                    head=dict(type='ANAUSHead'), num_rois=16)
    if algo == 'byol':
        return dict(
            type='BYOL', backbone=bb, data_preprocessor=PRE,
            base_momentum=0.01,
            neck=dict(type='NonLinearNeck', in_channels=dim,
                      hid_channels=4096, out_channels=256, num_layers=2,
                      with_avg_pool=backbone == 'resnet18'),
            head=dict(type='LatentPredictHead',
                      loss=dict(type='CosineSimilarityLoss'),
                      predictor=dict(type='NonLinearNeck', in_channels=256,
                                     hid_channels=4096, out_channels=256,
                                     num_layers=2, with_avg_pool=False)))
    if algo == 'mae':
        if backbone == 'resnet18':
            raise CLIError('mae needs a ViT backbone (--backbone vit-b)')
        # mmpretrain's MAE ViT-B/16 (decoder 512-d, 8 blocks), 75 % masked
        return dict(
            type='MAE', data_preprocessor=PRE,
            backbone=dict(type='MAEViT', arch='b', patch_size=16,
                          img_size=img_size, mask_ratio=0.75),
            neck=dict(type='MAEPretrainDecoder', patch_size=16,
                      num_patches=(img_size // 16)**2, in_chans=3,
                      embed_dim=768, decoder_embed_dim=512,
                      decoder_depth=8, decoder_num_heads=16, mlp_ratio=4.),
            head=dict(type='MAEPretrainHead', norm_pix=True, patch_size=16,
                      loss=dict(type='PixelReconstructionLoss',
                                criterion='L2')))
    if backbone != 'resnet18':
        raise CLIError('densecl needs a convolutional backbone (resnet18)')
    return dict(
        type='DenseCL', backbone=bb, data_preprocessor=PRE, queue_len=4096,
        feat_dim=128, momentum=0.001, loss_lambda=0.5,
        neck=dict(type='DenseCLNeck', in_channels=512, hid_channels=2048,
                  out_channels=128, num_grid=None),
        head=dict(type='ContrastiveHead',
                  loss=dict(type='CrossEntropyLoss'), temperature=0.2))


def make_batch(algo, batch_size, img_size):
    import numpy as np
    from mmengine.dataset import default_collate
    from mmpretrain.registry import TRANSFORMS
    views = TRANSFORMS.build(dict(type='AnatomyPairedViews', size=img_size))
    pack = TRANSFORMS.build(dict(
        type='PackInputs', algorithm_keys=list(views.ALGORITHM_KEYS),
        meta_keys=[]))
    rng = np.random.RandomState(0)
    samples = []
    for i in range(batch_size):
        h, w = img_size * 2, img_size * 2
        img = (rng.rand(h, w, 3) * 255).astype(np.uint8)
        mask = np.zeros((h, w), np.uint8)
        mask[h // 4:h // 2, w // 5:] = 1
        mask[h // 2:, :w // 3] = 2
        mask[h // 2:, w // 3:2 * w // 3] = 3
        samples.append(pack(views(dict(img=img, gt_seg_map=mask))))
    data = default_collate(samples)
    if algo == 'mae':  # one view, masked inside the model
        data['inputs'] = data['inputs'][0]
    elif algo != 'anaus':
        data['inputs'] = data['inputs'][:2]
    return data


def worker(args):
    """Benchmark one algorithm in this process; print one JSON line."""
    import resource

    import torch
    from mmengine.logging import MessageHub
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    cuda = torch.cuda.is_available() and not args.cpu
    device = 'cuda' if cuda else 'cpu'
    total = args.warmup + args.steps
    MessageHub.get_current_instance().update_info('max_iters', total)
    model = MODELS.build(model_cfg(args.worker, args.backbone,
                                   args.img_size)).to(device)
    model.train()
    wrapper = dict(type='OptimWrapper')
    if args.amp:  # bf16 autocast (CUDA only, checked in main)
        wrapper = dict(type='AmpOptimWrapper', dtype='bfloat16')
    optim = build_optim_wrapper(model, dict(
        **wrapper, optimizer=dict(type='LARS', lr=0.3 * args.batch_size / 256,
                                  momentum=0.9, weight_decay=1e-6)))
    data = make_batch(args.worker, args.batch_size, args.img_size)
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    times = []
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for step in range(total):
        if step == args.warmup and cuda:
            torch.cuda.reset_peak_memory_stats()
        sync()
        start = time.perf_counter()
        model.train_step(data, optim)
        sync()
        if step >= args.warmup:
            times.append(time.perf_counter() - start)
    if cuda:
        peak = torch.cuda.max_memory_allocated() / 2**20
        kind = 'cuda_max_memory_allocated'
    else:
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak = (rss1 - rss0) / 1024.  # ru_maxrss is KiB on Linux
        kind = 'peak_rss_delta'
    print(json.dumps(dict(algo=args.worker, step_s=statistics.median(times),
                          step_s_all=times, peak_mib=peak, memory=kind,
                          device=device)))


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--algos', nargs='+', default=list(ALGOS), choices=ALGOS)
    p.add_argument('--backbone', default='resnet18',
                   choices=['resnet18', 'vit-b'])
    p.add_argument('--batch-size', type=int, default=8)
    p.add_argument('--img-size', type=int, default=128)
    p.add_argument('--steps', type=int, default=10,
                   help='timed steps (>= 10)')
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--out', help='write the results as JSON here')
    p.add_argument('--cpu', action='store_true', help='ignore CUDA')
    p.add_argument('--amp', action='store_true',
                   help='bf16 autocast (AmpOptimWrapper, CUDA only)')
    p.add_argument('--worker', choices=ALGOS, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.steps < 10:
        raise CLIError(f'--steps must be >= 10 (got {args.steps}): the '
                       'median of fewer steps is too noisy')
    if args.batch_size < 2 or args.img_size < 32:
        raise CLIError('--batch-size must be >= 2 and --img-size >= 32')
    if args.img_size % 32:
        raise CLIError(f'--img-size must be a multiple of 32, got '
                       f'{args.img_size}')
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.amp:
        import torch
        if args.cpu or not torch.cuda.is_available():
            raise CLIError('--amp needs a CUDA GPU')
    if args.worker:
        return worker(args)
    if 'byol' not in args.algos:
        args.algos = ['byol'] + args.algos  # the reference of the ratios
    results = []
    for algo in args.algos:
        cmd = [sys.executable, osp.abspath(__file__), '--worker', algo,
               '--backbone', args.backbone, '--batch-size',
               str(args.batch_size), '--img-size', str(args.img_size),
               '--steps', str(args.steps), '--warmup', str(args.warmup)]
        if args.amp:
            cmd.append('--amp')
        if args.cpu:
            cmd.append('--cpu')
        print(f'[benchmark] {algo} ...', file=sys.stderr, flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()[-1:] or ['(no output)']
            raise CLIError(f'{algo} failed: {tail[0]}')
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    ref = next(r for r in results if r['algo'] == 'byol')
    for r in results:
        r['step_ratio_to_byol'] = r['step_s'] / ref['step_s']
        r['memory_ratio_to_byol'] = (r['peak_mib'] / ref['peak_mib']
                                     if ref['peak_mib'] > 0 else float('nan'))
    print(f'backbone={args.backbone} batch={args.batch_size} '
          f'img={args.img_size} steps={args.steps} (median) '
          f'device={results[0]["device"]} memory={results[0]["memory"]}')
    print(f'{"algo":<10}{"step s":>10}{"x BYOL":>9}{"peak MiB":>11}'
          f'{"x BYOL":>9}')
    for r in results:
        print(f'{r["algo"]:<10}{r["step_s"]:>10.3f}'
              f'{r["step_ratio_to_byol"]:>9.2f}{r["peak_mib"]:>11.1f}'
              f'{r["memory_ratio_to_byol"]:>9.2f}')
    if args.out:
        from anaus_mm.utils.io import atomic_write_text
        atomic_write_text(args.out, json.dumps(
            dict(settings=vars(args), results=results), indent=2))


if __name__ == '__main__':
    run_cli(main)
