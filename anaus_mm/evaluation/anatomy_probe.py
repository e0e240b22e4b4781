"""Frozen-backbone anatomy probes: what a backbone knows about anatomy.

ANAUS claims to learn features that separate anatomical structures. This
module measures that directly, on a folder of the simulator's layout
(``images/`` + ``masks/`` of anatomy ids), with the backbone frozen:

* **ROI probe** -- every anatomy present in an image (at least
  ``min_pixels`` pixels) gives one sample: the mask-pooled feature of each
  backbone level (area-weighted mean of the cells; the mask is average-
  pooled to the level's grid, so thin structures keep their weight),
  concatenated over levels. A linear classifier predicts the anatomy id.
  Given the true mask, brightness and texture statistics of the region
  already go a long way: this probe saturates easily (see the issue: 96 %
  for a random-init ResNet-18 on the easy simulated set).
* **Dense probe** -- a linear classifier on the frozen features of every
  cell of the stride-``dense_stride`` grid (default 8: 16 x 16 cells at
  128 px). By default the features are a *hypercolumn*: every backbone
  level resampled to that grid (finer levels average-pooled, coarser ones
  bilinearly upsampled) and concatenated; ``dense_features='single'`` uses
  only the level whose stride equals ``dense_stride``. **Label rule:** a
  cell's label is the anatomy id covering the largest share of its pixels
  (the majority id); the cell is *ignored* when that id is 0 (outside the
  field of view) or covers less than ``min_purity`` (default 0.5) of the
  cell (a mixed cell on a boundary). Thin structures (the fascia lines,
  ~1 mm) rarely own a cell and then have no dense samples: their recall is
  reported as ``None``.

Both probes are evaluated by a grouped K-fold over images (every cell / ROI
of an image is in the same fold; each image is held out exactly once).
``balanced_accuracy`` is the mean recall over the anatomy classes present
in the held-out samples, computed from the confusion matrix pooled over the
folds; ``fold_mean`` / ``fold_std`` give its spread over folds.

**Classifier** (scikit-learn is not a dependency of the package): a
multinomial logistic regression in PyTorch (float32, one CPU thread by
default: on a shared 2-core machine two threads were ~30x slower), on features
standardised with the training fold's mean and std, a class-balanced loss
(each class weighted by ``n / (C * n_c)``, so the balanced accuracy is what
is optimised), an L2 penalty ``l2`` on the weights, fitted by full-batch
L-BFGS with a strong-Wolfe line search for a fixed ``max_iter`` (default
100) iterations -- deterministic, and a few seconds per fold on a CPU.

Example::

    from anaus_mm.evaluation.anatomy_probe import run_anatomy_probe
    res = run_anatomy_probe(None, 'data/sim_hard120')   # random init
    print(res['roi']['balanced_accuracy'], res['dense']['recall'])
"""
import json
import os
import os.path as osp
import time
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..utils.errors import AnausError, ConfigValueError

__all__ = [
    'ProbeDataError', 'DEFAULT_BACKBONE', 'VIT_TYPES', 'backbone_cfg_from', 'DEFAULT_MEAN', 'DEFAULT_STD',
    'load_probe_data', 'build_probe_backbone', 'extract_features',
    'roi_samples', 'dense_samples', 'fit_logistic', 'grouped_folds',
    'evaluate_probe', 'run_anatomy_probe', 'probe_markdown_row',
    'probe_markdown_header'
]

#: Backbone used when neither a config nor a backbone dict is given.
DEFAULT_BACKBONE = dict(type='ResNet', depth=18, out_indices=(0, 1, 2, 3))
#: Pixel normalisation of every config of the project (ImageNet's, RGB).
DEFAULT_MEAN = (123.675, 116.28, 103.53)
DEFAULT_STD = (58.395, 57.12, 57.375)


#: Backbone types probed as mmpretrain's plain VisionTransformer (four
#: blocks as feature maps, like the UPerNet downstream configs).
VIT_TYPES = ('VisionTransformer', 'MAEViT', 'MoCoV3ViT', 'BEiTViT',
             'CAEViT', 'MaskFeatViT', 'MixMIMTransformer')
VIT_KEYS = ('arch', 'img_size', 'patch_size', 'in_channels',
            'qkv_bias', 'norm_cfg', 'with_cls_token', 'interpolate_mode',
            'patch_cfg', 'layer_cfgs', 'pre_norm', 'final_norm')
VIT_OUT_INDICES = (2, 5, 8, 11)


class ProbeDataError(AnausError, ValueError):
    """A probe data folder that cannot be used (one-line message)."""


# ---------------------------------------------------------------- data
def _class_names(data_root: str, num_ids: int) -> List[str]:
    """Anatomy names from ``meta.json`` (``id<N>`` without one)."""
    path = osp.join(data_root, 'meta.json')
    if osp.isfile(path):
        try:
            with open(path) as f:
                classes = list(json.load(f)['classes'])
            if len(classes) >= num_ids:
                return classes
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return [f'id{i}' for i in range(num_ids)]


def load_probe_data(data_root: str, img_dir: str = 'images',
                    mask_dir: str = 'masks', size: Optional[int] = None,
                    num_images: Optional[int] = None
                    ) -> Tuple[np.ndarray, np.ndarray, List[str], List[str]]:
    """Read the images and anatomy masks of a folder.

    Args:
        data_root (str): Folder holding ``img_dir`` and ``mask_dir``.
        img_dir (str): Sub-folder of the images (any size, read as gray).
        mask_dir (str): Sub-folder of the uint8 anatomy-id masks (same file
            names as the images, ``.png``).
        size (int, optional): Resize to ``size x size`` (images: area /
            bilinear, masks: nearest). None keeps the stored size (all
            images must then have the same size).
        num_images (int, optional): Use the first ``num_images`` images
            (sorted by name); None uses all.

    Returns:
        tuple: ``(images, masks, names, classes)`` -- uint8 arrays of shape
        ``(N, H, W)``, the file names and the anatomy class names.

    Raises:
        ProbeDataError: Missing folders, no images, a missing mask or mixed
            sizes.
    """
    import cv2
    img_root = osp.join(data_root, img_dir)
    mask_root = osp.join(data_root, mask_dir)
    for folder in (img_root, mask_root):
        if not osp.isdir(folder):
            raise ProbeDataError(f'anatomy probe: folder not found: {folder}')
    names = sorted(n for n in os.listdir(img_root)
                   if n.lower().endswith(('.png', '.jpg', '.jpeg', '.bmp'))
                   and not n.startswith('.'))
    if num_images is not None:
        names = names[:int(num_images)]
    if not names:
        raise ProbeDataError(f'anatomy probe: no images in {img_root}')
    images, masks = [], []
    for name in names:
        mask_path = osp.join(mask_root, osp.splitext(name)[0] + '.png')
        if not osp.isfile(mask_path):
            raise ProbeDataError(f'anatomy probe: no mask for {name} '
                                 f'({mask_path})')
        img = cv2.imread(osp.join(img_root, name), cv2.IMREAD_GRAYSCALE)
        mask = cv2.imread(mask_path, cv2.IMREAD_UNCHANGED)
        if img is None or mask is None or mask.ndim != 2:
            raise ProbeDataError(f'anatomy probe: cannot read {name} or its '
                                 'mask (a single-channel PNG of ids)')
        if size is not None and img.shape != (size, size):
            interp = cv2.INTER_AREA if img.shape[0] > size \
                else cv2.INTER_LINEAR
            img = cv2.resize(img, (size, size), interpolation=interp)
        if mask.shape != img.shape:
            mask = cv2.resize(mask, img.shape[::-1],
                              interpolation=cv2.INTER_NEAREST)
        images.append(img)
        masks.append(mask)
    if len({im.shape for im in images}) > 1:
        raise ProbeDataError('anatomy probe: images of several sizes; pass '
                             'size= (--size) to resize them')
    masks_arr = np.stack(masks)
    return (np.stack(images), masks_arr, names,
            _class_names(data_root, int(masks_arr.max()) + 1))


# ------------------------------------------------------------- backbone
def _bn_not_sync(cfg):
    """Replace SyncBN by BN everywhere in a (nested) config."""
    if isinstance(cfg, dict):
        out = {k: _bn_not_sync(v) for k, v in cfg.items()}
        if out.get('type') in ('SyncBN', 'MMSyncBN'):
            out['type'] = 'BN'
        return out
    if isinstance(cfg, (list, tuple)):
        return type(cfg)(_bn_not_sync(v) for v in cfg)
    return cfg


def backbone_cfg_from(config: Union[str, dict, None]) -> dict:
    """The backbone dict of a model config file, or a backbone dict.

    Args:
        config (str | dict | None): A config file path (its
            ``model.backbone`` is used), a backbone dict (with ``type``) or
            None for :data:`DEFAULT_BACKBONE`.

    Returns:
        dict: A plain backbone config: SyncBN replaced by BN, a
        ``Pretrained`` ``init_cfg`` dropped, every stage of a ResNet
        returned (``out_indices=(0, 1, 2, 3)``), no frozen stages; a ViT
        (also MAE's / MoCo v3's pre-training ViTs) as a plain
        ``VisionTransformer`` returning blocks 3, 6, 9 and 12 as maps.
    """
    if config is None:
        cfg = dict(DEFAULT_BACKBONE)
    elif isinstance(config, str):
        from ..utils.cli import load_config
        model = load_config(config).get('model') or {}
        if 'backbone' not in model:
            raise ConfigValueError(f'anatomy probe: {config} has no '
                                   'model.backbone')
        cfg = model['backbone'].to_dict() if hasattr(
            model['backbone'], 'to_dict') else dict(model['backbone'])
    else:
        cfg = dict(config.to_dict() if hasattr(config, 'to_dict')
                   else config)
    cfg = _bn_not_sync(cfg)
    init = cfg.get('init_cfg')
    if isinstance(init, dict) and init.get('type') == 'Pretrained':
        cfg.pop('init_cfg')
    kind = str(cfg.get('type', '')).split('.')[-1]
    if kind.startswith('ResNet'):
        cfg['out_indices'] = (0, 1, 2, 3)
        cfg['frozen_stages'] = -1
    elif kind in VIT_TYPES:
        # the pre-training wrappers (MAE's random masking, MoCo v3's frozen
        # patch embedding) share VisionTransformer's parameter names
        cfg = dict(type='VisionTransformer',
                   **{k: cfg[k] for k in VIT_KEYS if k in cfg})
        cfg.update(out_type='featmap', out_indices=VIT_OUT_INDICES,
                   frozen_stages=-1)
    return cfg


def build_probe_backbone(checkpoint: Optional[str] = None,
                         backbone: Union[str, dict, None] = None,
                         seed: int = 0) -> nn.Module:
    """Build a frozen backbone (eval mode), random or from a checkpoint.

    Args:
        checkpoint (str, optional): A pre-training checkpoint (its
            ``backbone.*`` weights are loaded; EMA / target copies are
            ignored) or a bare backbone state dict. None: random init.
        backbone (str | dict, optional): See :func:`backbone_cfg_from`.
        seed (int): ``torch.manual_seed`` before building (random init).

    Returns:
        nn.Module: The backbone, in eval mode, without gradients.

    Raises:
        ConfigValueError: The checkpoint holds no weight of the backbone.
    """
    import anaus_mm  # noqa: F401  (registers the package's modules)
    from mmpretrain.registry import MODELS
    from ..utils.checkpoint import check_shapes, read_checkpoint
    cfg = backbone_cfg_from(backbone)
    torch.manual_seed(int(seed))
    model = MODELS.build(cfg)
    if hasattr(model, 'init_weights'):
        from mmengine.logging import MMLogger
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel('WARNING')  # init_weights logs every parameter
        try:
            model.init_weights()
        finally:
            logger.setLevel(level)
    if checkpoint is not None:
        state, _ = read_checkpoint(checkpoint, what='probe checkpoint')
        if any(k.startswith('backbone.') for k in state):
            state = {k[len('backbone.'):]: v for k, v in state.items()
                     if k.startswith('backbone.')}
        own = model.state_dict()
        shared = [k for k in state if k in own]
        if not shared:
            raise ConfigValueError(
                f'anatomy probe: {checkpoint} holds no weight of the '
                f'{cfg.get("type")} backbone (keys such as '
                f'{list(state)[:3]})')
        check_shapes(model, state, checkpoint, what='probe checkpoint')
        model.load_state_dict({k: state[k] for k in shared}, strict=False)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _as_maps(outputs) -> List[torch.Tensor]:
    """The ``(B, C, h, w)`` feature maps of a backbone's outputs."""
    if isinstance(outputs, torch.Tensor):
        outputs = (outputs, )
    maps = []
    for out in outputs:
        if isinstance(out, (list, tuple)):  # e.g. ViT (patch, cls) pairs
            out = out[0]
        if isinstance(out, torch.Tensor) and out.dim() == 4:
            maps.append(out)
    if not maps:
        raise ConfigValueError('anatomy probe: the backbone returns no '
                               '(B, C, H, W) feature map')
    return maps


@torch.no_grad()
def extract_features(model: nn.Module, images: np.ndarray,
                     batch_size: int = 16, device: str = 'cpu',
                     mean: Sequence[float] = DEFAULT_MEAN,
                     std: Sequence[float] = DEFAULT_STD
                     ) -> List[torch.Tensor]:
    """Frozen features of every image, per backbone level.

    Args:
        model (nn.Module): The backbone (eval mode).
        images (numpy.ndarray): uint8 ``(N, H, W)`` gray images (fed as 3
            equal channels, normalised with ``mean`` / ``std``).
        batch_size (int): Images per forward pass.
        device (str): Torch device.
        mean, std (Sequence[float]): Per-channel normalisation.

    Returns:
        list[torch.Tensor]: One float32 CPU tensor ``(N, C_l, h_l, w_l)``
        per level.
    """
    model = model.to(device)
    m = torch.tensor(mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    levels: List[List[torch.Tensor]] = []
    for start in range(0, len(images), batch_size):
        x = torch.from_numpy(images[start:start + batch_size]).to(device)
        x = x.float().unsqueeze(1).expand(-1, 3, -1, -1)
        maps = _as_maps(model((x - m) / s))
        if not levels:
            levels = [[] for _ in maps]
        for i, fm in enumerate(maps):
            levels[i].append(fm.float().cpu())
    return [torch.cat(level) for level in levels]


# -------------------------------------------------------------- samples
def _one_hot(masks: np.ndarray, num_ids: int) -> torch.Tensor:
    m = torch.from_numpy(masks.astype(np.int64))
    return F.one_hot(m, num_ids).permute(0, 3, 1, 2).float()


def roi_samples(features: List[torch.Tensor], masks: np.ndarray,
                num_ids: int, min_pixels: int = 16
                ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mask-pooled ROI features (one sample per image and anatomy).

    Args:
        features (list[torch.Tensor]): :func:`extract_features` output.
        masks (numpy.ndarray): ``(N, H, W)`` anatomy ids.
        num_ids (int): Number of ids (background 0 included).
        min_pixels (int): An anatomy with fewer pixels in an image gives no
            sample for it.

    Returns:
        tuple: ``(X, y, groups)`` -- ``(S, sum C_l)`` features, anatomy ids
        and image indices.
    """
    onehot = _one_hot(masks, num_ids)
    counts = onehot.sum((2, 3))  # (N, K)
    pooled = []
    for fm in features:
        w = F.adaptive_avg_pool2d(onehot, fm.shape[-2:])  # (N, K, h, w)
        num = torch.einsum('nkhw,nchw->nkc', w, fm)
        den = w.sum((2, 3)).unsqueeze(-1).clamp_min(1e-8)
        pooled.append(num / den)
    feats = torch.cat(pooled, dim=-1)  # (N, K, D)
    keep = counts >= min_pixels
    keep[:, 0] = False
    img, cls = torch.nonzero(keep, as_tuple=True)
    return (feats[img, cls].numpy(), cls.numpy(), img.numpy())


def dense_samples(features: List[torch.Tensor], masks: np.ndarray,
                  num_ids: int, stride: int = 8, min_purity: float = 0.5,
                  mode: str = 'hypercolumn',
                  max_cells: Optional[int] = None, seed: int = 0
                  ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-cell features and majority labels on the stride-``stride`` grid.

    Args:
        features (list[torch.Tensor]): :func:`extract_features` output.
        masks (numpy.ndarray): ``(N, H, W)`` anatomy ids.
        num_ids (int): Number of ids (background 0 included).
        stride (int): Cell side in pixels.
        min_purity (float): Share of the cell the majority id must cover.
        mode (str): ``'hypercolumn'`` (every level resampled to the grid,
            concatenated) or ``'single'`` (the level of this stride).
        max_cells (int, optional): Keep at most this many cells per
            (image, anatomy), drawn at random (``seed``); the large tissues
            then do not dominate the fitting time. None keeps all.
        seed (int): Seed of that draw.

    Returns:
        tuple: ``(X, y, groups)`` of the kept cells (see the module
        docstring for the label rule).
    """
    n, height, width = masks.shape
    grid = (height // stride, width // stride)
    if min(grid) < 1:
        raise ConfigValueError(f'anatomy probe: images of {height}x{width}'
                               f' px have no stride-{stride} cell')
    onehot = _one_hot(masks[:, :grid[0] * stride, :grid[1] * stride],
                      num_ids)
    share = F.avg_pool2d(onehot, stride)  # (N, K, gh, gw)
    purity, label = share.max(1)
    keep = (label > 0) & (purity >= min_purity - 1e-9)
    if max_cells is not None:
        gen = torch.Generator().manual_seed(int(seed))
        rank = torch.rand(keep.shape, generator=gen)
        for k in range(1, num_ids):
            sel = keep & (label == k)
            # rank of each cell among its image's cells of this anatomy
            r = torch.where(sel, rank, torch.full_like(rank, 2.0))
            order = r.flatten(1).argsort(1).argsort(1).view_as(r)
            keep &= ~sel | (order < max_cells)
    if mode == 'single':
        chosen = [fm for fm in features if height // fm.shape[-2] == stride]
        if not chosen:
            raise ConfigValueError(
                f'anatomy probe: no backbone level of stride {stride} '
                f'(strides {[height // fm.shape[-2] for fm in features]})')
        levels = chosen[:1]
    elif mode == 'hypercolumn':
        levels = features
    else:
        raise ConfigValueError(f'anatomy probe: dense_features must be '
                               f'"hypercolumn" or "single", got {mode!r}')
    parts = []  # one level at a time: (kept cells, C_l)
    for fm in levels:
        if fm.shape[-2] >= grid[0]:
            fm = F.adaptive_avg_pool2d(fm, grid)
        else:
            fm = F.interpolate(fm, size=grid, mode='bilinear',
                               align_corners=False)
        parts.append(fm.permute(0, 2, 3, 1)[keep])
    img = torch.arange(n).view(n, 1, 1).expand_as(label)
    return (torch.cat(parts, 1).numpy(), label[keep].numpy(),
            img[keep].numpy())


# ----------------------------------------------------------- classifier
def fit_logistic(x: np.ndarray, y: np.ndarray, num_classes: int,
                 l2: float = 1e-3, max_iter: int = 100
                 ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                            torch.Tensor]:
    """Class-balanced multinomial logistic regression (L-BFGS, float32).

    Args:
        x (numpy.ndarray): ``(n, d)`` training features.
        y (numpy.ndarray): ``(n,)`` class ids in ``[0, num_classes)``.
        num_classes (int): Output classes.
        l2 (float): Penalty ``l2 * ||W||^2`` added to the mean loss.
        max_iter (int): L-BFGS iterations (fixed; strong-Wolfe search).

    Returns:
        tuple: ``(W, b, mu, sigma)`` -- weights ``(d, C)``, bias ``(C,)``
        and the standardisation of the features.
    """
    xt = torch.from_numpy(np.asarray(x, dtype=np.float32))
    yt = torch.from_numpy(np.asarray(y, dtype=np.int64))
    mu = xt.mean(0)
    sigma = xt.std(0, unbiased=False).clamp_min(1e-6)
    xs = (xt - mu) / sigma
    counts = torch.bincount(yt, minlength=num_classes).float()
    present = counts > 0
    weight = torch.zeros(num_classes, dtype=torch.float32)
    weight[present] = len(yt) / (present.sum() * counts[present])
    w = torch.zeros(xs.shape[1], num_classes, dtype=torch.float32,
                    requires_grad=True)
    b = torch.zeros(num_classes, dtype=torch.float32, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=max_iter,
                            history_size=20, line_search_fn='strong_wolfe',
                            tolerance_grad=1e-9, tolerance_change=1e-12)

    def closure():
        opt.zero_grad()
        logits = xs @ w + b
        logits = logits.masked_fill(~present, -1e4)  # never-seen classes
        loss = F.cross_entropy(logits, yt, weight=weight) + l2 * (w ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach(), b.detach().masked_fill(~present, -1e4), mu, sigma


def _predict(model: Tuple[torch.Tensor, ...], x: np.ndarray) -> np.ndarray:
    w, b, mu, sigma = model
    xt = (torch.from_numpy(np.asarray(x, dtype=np.float32)) - mu) / sigma
    return (xt @ w + b).argmax(1).numpy()


def grouped_folds(groups: np.ndarray, folds: int, seed: int = 0
                  ) -> List[np.ndarray]:
    """Test-sample indices of each fold; groups (images) never split.

    The unique groups are shuffled with ``numpy.random.default_rng(seed)``
    and dealt round-robin into ``folds`` folds.
    """
    uniq = np.unique(groups)
    if folds < 2 or folds > len(uniq):
        raise ConfigValueError(f'anatomy probe: folds must be in [2, '
                               f'{len(uniq)}] (images), got {folds}')
    order = np.random.default_rng(seed).permutation(uniq)
    fold_of = {g: i % folds for i, g in enumerate(order)}
    fold = np.array([fold_of[g] for g in groups])
    return [np.nonzero(fold == k)[0] for k in range(folds)]


def _balanced(conf: np.ndarray) -> Tuple[Optional[float], List[Optional[
        float]]]:
    """Balanced accuracy (%) and per-class recall (%) of a confusion
    matrix (rows: truth); classes without samples give None."""
    support = conf.sum(1)
    recall = [float(100 * conf[k, k] / support[k]) if support[k] else None
              for k in range(len(conf))]
    vals = [r for r in recall if r is not None]
    return (float(np.mean(vals)) if vals else None), recall


def evaluate_probe(x: np.ndarray, y: np.ndarray, groups: np.ndarray,
                   classes: Sequence[str], folds: int = 5, seed: int = 0,
                   l2: float = 1e-3, max_iter: int = 100) -> dict:
    """Grouped K-fold evaluation of a linear probe.

    Args:
        x, y, groups: Samples, anatomy ids and image indices.
        classes (Sequence[str]): Name of every id (index = id).
        folds (int): Grouped folds.
        seed (int): Fold assignment seed.
        l2, max_iter: See :func:`fit_logistic`.

    Returns:
        dict: ``balanced_accuracy`` (%, pooled confusion), ``fold_mean``,
        ``fold_std``, ``recall`` ({anatomy: % or None}), ``support``
        ({anatomy: samples}), ``chance`` (100 / classes present),
        ``n_samples``, ``n_images``, ``dim`` and ``confusion``.
    """
    num = len(classes)
    conf = np.zeros((num, num), dtype=np.int64)
    per_fold = []
    for test in grouped_folds(groups, folds, seed):
        train = np.setdiff1d(np.arange(len(y)), test)
        model = fit_logistic(x[train], y[train], num, l2, max_iter)
        pred = _predict(model, x[test])
        fold_conf = np.zeros_like(conf)
        np.add.at(fold_conf, (y[test], pred), 1)
        conf += fold_conf
        per_fold.append(_balanced(fold_conf)[0])
    bal, recall = _balanced(conf)
    support = conf.sum(1)
    present = [k for k in range(1, num) if support[k]]
    fold_vals = [v for v in per_fold if v is not None]
    return dict(
        balanced_accuracy=None if bal is None else round(bal, 2),
        fold_mean=round(float(np.mean(fold_vals)), 2),
        fold_std=round(float(np.std(fold_vals, ddof=1)), 2)
        if len(fold_vals) > 1 else None,
        recall={classes[k]: None if recall[k] is None
                else round(recall[k], 2) for k in range(1, num)},
        support={classes[k]: int(support[k]) for k in range(1, num)},
        chance=round(100.0 / max(len(present), 1), 2),
        n_samples=int(len(y)), n_images=int(len(np.unique(groups))),
        dim=int(x.shape[1]), confusion=conf.tolist())


# ------------------------------------------------------------------ api
def run_anatomy_probe(checkpoint: Optional[str], data_root: str,
                      backbone: Union[str, dict, None] = None,
                      img_dir: str = 'images', mask_dir: str = 'masks',
                      size: Optional[int] = None,
                      num_images: Optional[int] = None,
                      kinds: Iterable[str] = ('roi', 'dense'),
                      folds: int = 5, seed: int = 0, init_seed: int = 0,
                      min_pixels: int = 16, dense_stride: int = 8,
                      min_purity: float = 0.5,
                      dense_features: str = 'hypercolumn',
                      max_cells: Optional[int] = 24,
                      l2: float = 1e-3, max_iter: int = 100,
                      batch_size: int = 16, device: str = 'cpu',
                      mean: Sequence[float] = DEFAULT_MEAN,
                      std: Sequence[float] = DEFAULT_STD,
                      model: Optional[nn.Module] = None,
                      threads: Optional[int] = 1) -> dict:
    """Run the ROI and / or dense anatomy probes for one backbone.

    Args:
        checkpoint (str, optional): Backbone weights (see
            :func:`build_probe_backbone`); None: random init.
        data_root (str): Folder with ``img_dir`` / ``mask_dir``.
        backbone (str | dict, optional): Model config file or backbone
            dict (default: ResNet-18).
        img_dir, mask_dir, size, num_images: See :func:`load_probe_data`.
        kinds (Iterable[str]): ``'roi'`` and / or ``'dense'``.
        folds (int): Grouped folds over images.
        seed (int): Fold assignment seed.
        init_seed (int): Seed of a random-init backbone.
        min_pixels (int): Smallest ROI (pixels) the ROI probe uses.
        dense_stride (int): Cell side (pixels) of the dense probe.
        min_purity (float): See the label rule in the module docstring.
        dense_features (str): ``'hypercolumn'`` or ``'single'``.
        max_cells (int, optional): Dense cells kept per (image, anatomy)
            (see :func:`dense_samples`); default 24 (of the 256 cells of a
            128 px image, parenchyma has ~90).
        l2, max_iter: See :func:`fit_logistic`.
        batch_size, device, mean, std: See :func:`extract_features`.
        model (nn.Module, optional): Use this backbone instead of building
            one (tests, notebooks); ``checkpoint`` and ``backbone`` are
            then ignored.
        threads (int, optional): ``torch.set_num_threads`` while the probe
            runs (restored after); None keeps the current setting.

    Returns:
        dict: ``{'roi': evaluate_probe(...), 'dense': ...,
        'settings': {...}, 'seconds': {...}}``.
    """
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        return _run_anatomy_probe(
            checkpoint, data_root, backbone, img_dir, mask_dir, size,
            num_images, kinds, folds, seed, init_seed, min_pixels,
            dense_stride, min_purity, dense_features, max_cells, l2,
            max_iter, batch_size, device, mean, std, model)
    finally:
        torch.set_num_threads(before)


def _run_anatomy_probe(checkpoint, data_root, backbone, img_dir, mask_dir,
                       size, num_images, kinds, folds, seed, init_seed,
                       min_pixels, dense_stride, min_purity, dense_features,
                       max_cells, l2, max_iter, batch_size, device, mean,
                       std, model) -> dict:
    """The body of :func:`run_anatomy_probe` (same arguments)."""
    kinds = list(kinds)
    bad = [k for k in kinds if k not in ('roi', 'dense')]
    if bad or not kinds:
        raise ConfigValueError(f'anatomy probe: kinds must be among "roi", '
                               f'"dense", got {kinds}')
    start = time.perf_counter()
    images, masks, names, classes = load_probe_data(
        data_root, img_dir, mask_dir, size, num_images)
    if model is None:
        model = build_probe_backbone(checkpoint, backbone, init_seed)
    feats = extract_features(model, images, batch_size, device, mean, std)
    t_feat = time.perf_counter() - start
    out: Dict[str, object] = {}
    seconds = dict(features=round(t_feat, 2))
    num_ids = len(classes)
    for kind in kinds:
        t0 = time.perf_counter()
        if kind == 'roi':
            x, y, g = roi_samples(feats, masks, num_ids, min_pixels)
        else:
            x, y, g = dense_samples(feats, masks, num_ids, dense_stride,
                                    min_purity, dense_features, max_cells,
                                    seed)
        out[kind] = evaluate_probe(x, y, g, classes, folds, seed, l2,
                                   max_iter)
        seconds[kind] = round(time.perf_counter() - t0, 2)
    out['settings'] = dict(
        checkpoint=checkpoint, data_root=data_root, img_dir=img_dir,
        mask_dir=mask_dir, num_images=len(names),
        image_size=list(images.shape[1:]), folds=folds, seed=seed,
        init_seed=init_seed, min_pixels=min_pixels,
        dense_stride=dense_stride, min_purity=min_purity,
        dense_features=dense_features, max_cells=max_cells, l2=l2,
        max_iter=max_iter,
        levels=[list(f.shape[1:]) for f in feats],
        classifier='class-balanced multinomial logistic regression '
        '(torch L-BFGS, standardised features)')
    seconds['total'] = round(time.perf_counter() - start, 2)
    out['seconds'] = seconds
    return out


def probe_markdown_header(classes: Sequence[str]) -> List[str]:
    """Header rows of :func:`probe_markdown_row` lines."""
    names = list(classes)
    return ['| method | ROI bal. acc. | dense bal. acc. | ' +
            ' | '.join(f'dense {c}' for c in names) + ' |',
            '|---|---|---|' + '---|' * len(names)]


def _cell(value: Optional[float], spread: Optional[float] = None) -> str:
    if value is None:
        return '–'
    return f'{value:.1f}' + (f' ± {spread:.1f}' if spread is not None
                             else '')


def probe_markdown_row(method: str, result: dict,
                       classes: Optional[Sequence[str]] = None) -> str:
    """One markdown row: ROI and dense balanced accuracy (± fold std) and
    the dense recall of every anatomy, in %."""
    roi, dense = result.get('roi') or {}, result.get('dense') or {}
    recall = dense.get('recall') or {}
    classes = list(classes) if classes is not None else list(recall)
    cells = [_cell(roi.get('balanced_accuracy'), roi.get('fold_std')),
             _cell(dense.get('balanced_accuracy'), dense.get('fold_std'))]
    cells += [_cell(recall.get(c)) for c in classes]
    return f'| {method} | ' + ' | '.join(cells) + ' |'
