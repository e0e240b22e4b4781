"""Step time and memory of pre-training algorithms (whole training steps).

The models are the project's configs (:data:`CONFIGS`: the ResNet-18
recipes of the GPU benchmark ``configs/benchmark_ssl/pretrain_gpu/``, whose
models are the CPU demo configs' of ``configs/selfsup/`` and
``configs/anaus/``; ANAUS ViT-B ``configs/anaus_vit-b_pretrain.py`` and MAE
``pretrain_gpu/mae_vit-b_224-gpu.py``), built through mmpretrain's registry
with only what the command line sets changed: the image size (ViT position
tables, MAE's patch count), the backbone where an algorithm has no config
for it (BYOL with ViT-B takes the ViT-B of the ANAUS ViT-B config, pooled)
and the batch (the config's optimizer and parameter groups, its LR scaled
linearly from ``auto_scale_lr.base_batch_size``). So a timed step is a step
of what the configs train.

The batch is built once (data already in memory: views made by the ANAUS
config's ``AnatomyPairedViews`` from synthetic image/label pairs; the
baselines' views are the same crops and photometric draws by design, see
``configs/selfsup/_base_/``), so a step is forward + backward + optimizer
+ EMA/queue updates.

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
import ast
import copy
import os.path as osp
import statistics
import time
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Tuple

from ..utils.errors import ConfigValueError

if TYPE_CHECKING:
    from mmengine.config import Config

__all__ = ['ALGOS', 'CONFIGS', 'config_path', 'load_config', 'model_cfg',
           'views_cfg', 'optim_wrapper_cfg', 'make_batch', 'build_step',
           'time_interleaved', 'measure_memory', 'median', 'paired_ratio',
           'parse_variant']

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ALGOS = ('anaus', 'byol', 'densecl', 'mae')
BACKBONES = ('resnet18', 'vit-b')
_GPU = 'configs/benchmark_ssl/pretrain_gpu/'
# (algorithm, backbone) -> the config whose model is timed
CONFIGS = {
    ('anaus', 'resnet18'): _GPU + 'anaus_resnet18_224-gpu.py',
    ('anaus', 'vit-b'): 'configs/anaus_vit-b_pretrain.py',
    ('byol', 'resnet18'): _GPU + 'byol_resnet18_224-gpu.py',
    ('densecl', 'resnet18'): _GPU + 'densecl_resnet18_224-gpu.py',
    ('mae', 'vit-b'): _GPU + 'mae_vit-b_224-gpu.py',
}
# where an algorithm has no config for a backbone: the backbone of this
# config, with the pooled output a single-vector neck expects
_BACKBONE_SOURCE = {'vit-b': 'configs/anaus_vit-b_pretrain.py'}
_NEEDS = {'mae': 'mae needs a ViT backbone (--backbone vit-b)',
          'densecl': 'densecl needs a convolutional backbone (resnet18)'}
_LOADED: Dict[str, 'Config'] = {}


def _load(path: str) -> 'Config':
    """A repository config, loaded once (callers copy what they change)."""
    from mmengine.config import Config
    if path not in _LOADED:
        _LOADED[path] = Config.fromfile(osp.join(REPO_ROOT, path))
    return _LOADED[path]


def _resolve(algo: str, backbone: str) -> Tuple[str, bool]:
    """The config path of ``algo`` and whether its backbone is swapped."""
    if algo not in ALGOS:
        raise ConfigValueError(f'unknown algorithm {algo!r} (one of '
                               f'{", ".join(ALGOS)})')
    if backbone not in BACKBONES:
        raise ConfigValueError(f'unknown backbone {backbone!r} (one of '
                               f'{", ".join(BACKBONES)})')
    if (algo, backbone) in CONFIGS:
        return CONFIGS[(algo, backbone)], False
    if algo in _NEEDS:
        raise ConfigValueError(_NEEDS[algo])
    other = next(b for a, b in CONFIGS if a == algo)
    return CONFIGS[(algo, other)], True


def config_path(algo: str, backbone: str) -> str:
    """The repository-relative path of the config ``algo`` is timed with.

    Args:
        algo (str): One of :data:`ALGOS`.
        backbone (str): ``'resnet18'`` or ``'vit-b'``.

    Returns:
        str: A path of :data:`CONFIGS`.

    Raises:
        ConfigValueError: As :func:`load_config`.
    """
    return _resolve(algo, backbone)[0]


def load_config(algo: str, backbone: str) -> 'Config':
    """The config whose model and optimizer ``algo`` is timed with.

    Args:
        algo (str): One of :data:`ALGOS`.
        backbone (str): ``'resnet18'`` or ``'vit-b'``.

    Returns:
        Config: A copy of the config of :data:`CONFIGS` (for an algorithm
        without a config for ``backbone``, its config for the other
        backbone; :func:`model_cfg` swaps the backbone).

    Raises:
        ConfigValueError: If the algorithm or the backbone is unknown, or the
            algorithm cannot use the backbone (MAE needs a ViT, DenseCL a
            convolutional backbone).
    """
    return copy.deepcopy(_load(_resolve(algo, backbone)[0]))


def _set_options(cfg: dict, options: Dict[str, object]) -> None:
    """Set dotted keys (``'neck.out_channels'``) on a nested dict."""
    for key, value in options.items():
        node = cfg
        *path, last = key.split('.')
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value


_VIT_TYPES = ('VisionTransformer', 'MAEViT', 'MoCoV3ViT')


def model_cfg(algo: str, backbone: str, img_size: int,
              options: Optional[Dict[str, object]] = None) -> dict:
    """The model config of one algorithm, read from its config.

    Args:
        algo (str): One of :data:`ALGOS`.
        backbone (str): ``'resnet18'`` or ``'vit-b'``.
        img_size (int): The input size (ViT position tables and MAE's
            number of patches follow it).
        options (dict, optional): Dotted keys set on the model config, e.g.
            ``{'core_scale': 0.5, 'neck.out_channels': 64}``.

    Returns:
        dict: The model config, ready for ``MODELS.build`` (mmpretrain
        scope).

    Raises:
        ConfigValueError: As :func:`load_config`, or when a backbone swap
            meets a neck that does not take a pooled vector.
    """
    path, swap = _resolve(algo, backbone)
    cfg = _load(path)
    model = cfg.model.to_dict()
    # what mmengine's Runner does with a top-level data_preprocessor
    if 'data_preprocessor' not in model and 'data_preprocessor' in cfg:
        model['data_preprocessor'] = cfg.data_preprocessor.to_dict()
    if swap:  # BYOL with ViT-B: the ViT-B of the ANAUS ViT-B config, pooled
        source = _load(_BACKBONE_SOURCE[backbone]).model.to_dict()
        neck = model.get('neck') or {}
        if neck.get('type') != 'NonLinearNeck':
            raise ConfigValueError(f'{algo} has no {backbone} config and '
                                   'its neck does not take a pooled vector')
        model['backbone'] = dict(source['backbone'], out_type='avg_featmap')
        neck.update(in_channels=source['neck']['in_channels'],
                    with_avg_pool=False)
    bb = model['backbone']
    if bb['type'] in _VIT_TYPES:
        bb['img_size'] = img_size
        if (model.get('neck') or {}).get('type') == 'MAEPretrainDecoder':
            model['neck']['num_patches'] = (
                img_size // bb.get('patch_size', 16))**2
    _set_options(model, options or {})
    return model


def views_cfg(backbone: str, img_size: int) -> dict:
    """The ``AnatomyPairedViews`` of the ANAUS config, at ``img_size``.

    Args:
        backbone (str): ``'resnet18'`` or ``'vit-b'`` (whose ANAUS config
            is read).
        img_size (int): The view size.

    Returns:
        dict: The transform config (crop scale, ratio, flip probability and
        core rules of the config; ``size=img_size``).
    """
    cfg = _load(_resolve('anaus', backbone)[0])
    for t in cfg.train_dataloader.dataset.pipeline:
        if t['type'] == 'AnatomyPairedViews':
            return dict(t.to_dict(), size=img_size)
    return dict(type='AnatomyPairedViews', size=img_size)


def optim_wrapper_cfg(algo: str, backbone: str, batch_size: int,
                      amp: bool = False) -> dict:
    """The config's optimizer, for ``batch_size`` images per step.

    Args:
        algo (str): One of :data:`ALGOS`.
        backbone (str): ``'resnet18'`` or ``'vit-b'``.
        batch_size (int): The batch; the LR is scaled linearly from the
            config's ``auto_scale_lr.base_batch_size`` (as
            ``tools/train.py --auto-scale-lr`` does).
        amp (bool): bf16 autocast (``AmpOptimWrapper``, CUDA only) instead
            of the config's wrapper type, which is otherwise replaced by a
            plain ``OptimWrapper`` (the tool's ``--amp`` decides).

    Returns:
        dict: An optim-wrapper config for ``build_optim_wrapper``.
    """
    cfg = _load(_resolve(algo, backbone)[0])
    source = cfg.optim_wrapper.to_dict()
    optimizer = dict(source['optimizer'])
    base = (cfg.get('auto_scale_lr') or {}).get('base_batch_size')
    if base:
        optimizer['lr'] = optimizer['lr'] * batch_size / base
    wrapper = (dict(type='AmpOptimWrapper', dtype='bfloat16') if amp else
               dict(type='OptimWrapper'))
    wrapper['optimizer'] = optimizer
    if source.get('paramwise_cfg'):
        wrapper['paramwise_cfg'] = source['paramwise_cfg']
    return wrapper


def make_batch(algo: str, batch_size: int, img_size: int,
               views: Optional[dict] = None) -> dict:
    """One in-memory batch of synthetic image/label pairs.

    Args:
        algo (str): ANAUS gets all three inputs (two views and the core
            view), MAE the first view, the others the two views.
        batch_size (int): Number of samples.
        img_size (int): The view size.
        views (dict, optional): The ``AnatomyPairedViews`` config
            (:func:`views_cfg`); default: its defaults at ``img_size``.

    Returns:
        dict: The collated batch (``inputs``, ``data_samples``).
    """
    import numpy as np
    from mmengine.dataset import default_collate
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import TRANSFORMS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        views = TRANSFORMS.build(
            views or dict(type='AnatomyPairedViews', size=img_size))
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
    """A closure that runs one training step of ``algo``.

    The model (:func:`model_cfg`), the optimizer (:func:`optim_wrapper_cfg`)
    and the batch (:func:`make_batch` with :func:`views_cfg`) are built
    once.

    Args:
        algo (str): One of :data:`ALGOS`.
        backbone (str): ``'resnet18'`` or ``'vit-b'``.
        batch_size (int): Images per step.
        img_size (int): View size.
        options (dict, optional): Dotted model-config keys to set.
        amp (bool): bf16 autocast (CUDA only).
        device (str): ``'cpu'`` or ``'cuda'``.

    Returns:
        Callable[[], None]: One training step (synchronised on CUDA).
    """
    import torch
    from mmengine.logging import MMLogger
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    model = MODELS.build(model_cfg(algo, backbone, img_size, options)).to(
        device)
    model.train()
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel('WARNING')  # not one line per parameter group
    try:
        optim = build_optim_wrapper(
            model, optim_wrapper_cfg(algo, backbone, batch_size, amp))
    finally:
        logger.setLevel(level)
    data = make_batch(algo, batch_size, img_size,
                      views_cfg(backbone, img_size))
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


def paired_ratio(times: List[float], ref_times: List[float]) -> float:
    """Median over rounds of ``times[i] / ref_times[i]``.

    The steps of :func:`time_interleaved` run in turn, so round ``i`` of two
    algorithms saw the same machine state; the median of the per-round
    ratios cancels slow drifts (other processes, clock changes) that the
    ratio of two fastest steps, each from its own lucky round, does not.
    """
    if len(times) != len(ref_times) or not times:
        raise ValueError(f'paired_ratio needs as many rounds on both sides, '
                         f'got {len(times)} and {len(ref_times)}')
    return statistics.median(t / r for t, r in zip(times, ref_times))


def parse_variant(text: str) -> Tuple[str, Dict[str, object]]:
    """``NAME=key=value,key=value`` -> ``(NAME, {key: value})``.

    Values are Python literals where they parse (``0.5``, ``(1, 2, 3)``,
    ``[128, 256]``, ``None``), else strings; commas inside brackets belong
    to the value.

    Args:
        text (str): The ``--variant`` of ``benchmark_pretrain.py``.

    Returns:
        tuple: The name and the dotted model options.

    Raises:
        ConfigValueError: Without a name or options, or with an item that
            is not ``key=value``, or unbalanced brackets.
    """
    name, _, opts = text.partition('=')
    if not name or not opts:
        raise ConfigValueError(
            f'--variant {text!r}: expected NAME=key=value[,...]')
    items, depth, start = [], 0, 0
    for i, char in enumerate(opts):
        depth += (char in '([{') - (char in ')]}')
        if depth < 0:
            break
        if char == ',' and depth == 0:
            items.append(opts[start:i])
            start = i + 1
    if depth != 0:
        raise ConfigValueError(f'--variant {text!r}: unbalanced brackets')
    items.append(opts[start:])
    options = {}
    for item in items:
        key, sep, value = item.partition('=')
        if not sep or not key:
            raise ConfigValueError(
                f'--variant {text!r}: {item!r} is not key=value')
        try:
            options[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            options[key] = value
    return name, options
