"""Step time and memory of pre-training algorithms (whole training steps).

Every algorithm gets the same backbone, batch and resolution; the batch is
built once (data already in memory: views made by ``AnatomyPairedViews`` from
synthetic image/label pairs, then the data preprocessor), so a step is
forward + backward + optimizer (LARS) + EMA/queue updates.

Timing (:func:`time_interleaved`): all models live in one process and take
their steps in turn (algorithm 1, 2, ..., 1, 2, ...); the median of each
algorithm's timed steps is reported. On a shared machine whose speed drifts,
the drift hits every algorithm alike, so the ratios stay meaningful (timing
the algorithms one after another let a burst of load land on one of them).

Peak memory (:func:`measure_memory`): on CUDA
``torch.cuda.max_memory_allocated``; on CPU each algorithm runs in a fresh
process whose resident set size is sampled during a few steps: the peak
growth is what the steps add (activations, gradients, optimizer state,
allocator caching).

``tools/analysis_tools/benchmark_pretrain.py`` is the command line.
"""
import statistics
import time
from typing import Callable, Dict, List, Optional, Tuple

from ..utils.errors import ConfigValueError

__all__ = ['ALGOS', 'model_cfg', 'make_batch', 'build_step',
           'time_interleaved', 'measure_memory']

ALGOS = ('anaus', 'byol', 'densecl', 'mae')
PRE = dict(type='SelfSupDataPreprocessor', mean=[123.675, 116.28, 103.53],
           std=[58.395, 57.12, 57.375], to_rgb=True)


def backbone_cfg(name: str, img_size: int,
                 multi_scale: bool) -> Tuple[dict, int]:
    """The backbone config of ``name`` and its output channels."""
    if name == 'resnet18':
        return dict(type='ResNet', depth=18, norm_cfg=dict(type='BN'),
                    out_indices=(0, 1, 2, 3) if multi_scale else (3, )), 512
    return dict(type='VisionTransformer', arch='b', img_size=img_size,
                patch_size=16, out_type='featmap' if multi_scale else
                'avg_featmap', out_indices=-1), 768


def model_cfg(algo: str, backbone: str, img_size: int,
              options: Optional[Dict[str, object]] = None) -> dict:
    """The model config of one algorithm (``options``: dotted keys set on
    it, e.g. ``{'core_scale': 0.5}``)."""
    cfg = _model_cfg(algo, backbone, img_size)
    for key, value in (options or {}).items():
        node = cfg
        *path, last = key.split('.')
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    return cfg


def _model_cfg(algo: str, backbone: str, img_size: int) -> dict:
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
            raise ConfigValueError('mae needs a ViT backbone (--backbone vit-b)')
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
        raise ConfigValueError('densecl needs a convolutional backbone (resnet18)')
    return dict(
        type='DenseCL', backbone=bb, data_preprocessor=PRE, queue_len=4096,
        feat_dim=128, momentum=0.001, loss_lambda=0.5,
        neck=dict(type='DenseCLNeck', in_channels=512, hid_channels=2048,
                  out_channels=128, num_grid=None),
        head=dict(type='ContrastiveHead',
                  loss=dict(type='CrossEntropyLoss'), temperature=0.2))


def make_batch(algo: str, batch_size: int, img_size: int) -> dict:
    """One in-memory batch: views of synthetic image/label pairs made by
    ``AnatomyPairedViews`` (ANAUS gets all three inputs, the others the
    two views, MAE one)."""
    import numpy as np
    from mmengine.dataset import default_collate
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import TRANSFORMS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        views = TRANSFORMS.build(dict(type='AnatomyPairedViews',
                                      size=img_size))
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


def build_step(algo: str, backbone: str, batch_size: int, img_size: int,
               options: Optional[Dict[str, object]] = None,
               amp: bool = False, device: str = 'cpu'
               ) -> Callable[[], None]:
    """A closure that runs one training step of ``algo`` (model, LARS
    optimizer and batch built once)."""
    import torch
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    model = MODELS.build(model_cfg(algo, backbone, img_size, options)).to(
        device)
    model.train()
    wrapper = dict(type='OptimWrapper')
    if amp:  # bf16 autocast (CUDA only)
        wrapper = dict(type='AmpOptimWrapper', dtype='bfloat16')
    optim = build_optim_wrapper(model, dict(
        **wrapper, optimizer=dict(type='LARS', lr=0.3 * batch_size / 256,
                                  momentum=0.9, weight_decay=1e-6)))
    data = make_batch(algo, batch_size, img_size)
    sync = torch.cuda.synchronize if device == 'cuda' else (lambda: None)

    def step() -> None:
        model.train_step(data, optim)
        sync()

    return step


def time_interleaved(steps: Dict[str, Callable[[], None]], warmup: int,
                     timed: int) -> Dict[str, List[float]]:
    """Run the steps in turn (``warmup`` untimed rounds, then ``timed``
    rounds); returns each one's step times in seconds."""
    from mmengine.logging import MessageHub
    MessageHub.get_current_instance().update_info('max_iters',
                                                  warmup + timed)
    for _ in range(warmup):
        for step in steps.values():
            step()
    times = {name: [] for name in steps}
    for _ in range(timed):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return times


def _current_rss_mib() -> float:
    """Resident set size of this process now (Linux ``/proc``)."""
    import os
    with open('/proc/self/statm') as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf('SC_PAGE_SIZE') / 2**20


def measure_memory(step: Callable[[], None], steps: int = 3,
                   device: str = 'cpu') -> Tuple[float, str]:
    """Peak memory of ``steps`` training steps in MiB, and its kind.

    On CUDA ``torch.cuda.max_memory_allocated`` after one untimed step. On
    the CPU the resident set size is sampled every 2 ms during the steps and
    the peak minus the size just before them is returned (the process-wide
    ``ru_maxrss`` high-water mark can be set by imports or model building
    and then hides the steps).
    """
    import threading

    import torch
    from mmengine.logging import MessageHub
    MessageHub.get_current_instance().update_info('max_iters', steps + 1)
    if device == 'cuda':
        step()
        torch.cuda.reset_peak_memory_stats()
        for _ in range(steps):
            step()
        return (torch.cuda.max_memory_allocated() / 2**20,
                'cuda_max_memory_allocated')
    base = _current_rss_mib()
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _current_rss_mib())
            done.wait(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        for _ in range(steps):
            step()
    finally:
        done.set()
        sampler.join()
    return max(peak[0], _current_rss_mib()) - base, 'peak_rss_delta'


def median(values: List[float]) -> float:
    """The median of ``values``."""
    return statistics.median(values)
