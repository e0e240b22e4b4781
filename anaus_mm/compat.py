"""Compatibility fixes for the pinned OpenMMLab stack, applied on import.

Two problems of the stack on machines without compiled mmcv and with a
recent PyTorch are fixed here, and nowhere else:

1. ``mmcv.ops`` stand-in. mmsegmentation imports ``mmcv.ops`` without a guard
   in a few modules, which fails with ``mmcv-lite`` (no ``mmcv._ext``). When the
   compiled ops are absent we register a small module named ``mmcv.ops`` that
   provides pure-PyTorch :func:`point_sample` and :func:`sigmoid_focal_loss`
   and raises :class:`ModuleNotFoundError` for any other op (the exception
   mmseg's optional-import guards catch). With full mmcv installed nothing is
   changed.
2. mmengine checkpoints on torch >= 2.6. ``torch.load`` defaults to
   ``weights_only=True`` there, and mmengine's own checkpoints (which pickle
   ``HistoryBuffer`` and friends for resuming) fail to load. We register a
   local-file loader for mmengine's ``CheckpointLoader`` that passes
   ``weights_only=False``. Only loads that go through mmengine (``--resume``,
   ``load_from``, ``init_cfg=dict(type='Pretrained')``) are affected; our own
   loaders of third-party weights keep ``weights_only=True``.

Both are idempotent and are installed by ``import anaus_mm``, which therefore
has to happen before anything imports ``mmseg``.
"""
import importlib.util
import os.path as osp
import sys
import types
import warnings

import torch
import torch.nn.functional as F

_INSTALLED = False


# ---------------------------------------------------------------------------
# mmcv.ops stand-in
# ---------------------------------------------------------------------------
def point_sample(input, points, align_corners=False, **kwargs):
    """Sample ``input`` at normalised ``points`` in ``[0, 1]`` coordinates.

    Same contract as ``mmcv.ops.point_sample``: ``points`` is ``(N, P, 2)``
    (or ``(N, Hp, Wp, 2)``) holding ``(x, y)`` in ``[0, 1]``; the result is
    ``(N, C, P)`` (or ``(N, C, Hp, Wp)``).
    """
    add_dim = points.dim() == 3
    if add_dim:
        points = points.unsqueeze(2)
    output = F.grid_sample(
        input, 2.0 * points - 1.0, align_corners=align_corners, **kwargs)
    if add_dim:
        output = output.squeeze(3)
    return output


def sigmoid_focal_loss(input, target, gamma=2.0, alpha=0.25, weight=None,
                       reduction='mean'):
    """Sigmoid focal loss with class-index targets (``mmcv.ops`` contract).

    ``input`` is ``(N, C)`` logits and ``target`` ``(N,)`` class indices; an
    index equal to ``C`` means background (no positive class). ``weight`` is
    an optional per-sample ``(N,)`` weight. ``'mean'`` divides the sum by N,
    as mmcv's kernel does.
    """
    if reduction not in ('none', 'mean', 'sum'):
        raise ValueError(f'unsupported reduction {reduction!r}')
    num_classes = input.size(1)
    one_hot = F.one_hot(target.long(), num_classes + 1)[:, :num_classes]
    one_hot = one_hot.to(input.dtype)
    prob = input.sigmoid()
    log_p = F.logsigmoid(input)
    log_1mp = F.logsigmoid(-input)
    loss = -(alpha * (1 - prob).pow(gamma) * log_p * one_hot +
             (1 - alpha) * prob.pow(gamma) * log_1mp * (1 - one_hot))
    if weight is not None:
        loss = loss * weight.view(-1, 1).to(loss.dtype)
    if reduction == 'mean':
        return loss.sum() / input.size(0)
    if reduction == 'sum':
        return loss.sum()
    return loss


def _ops_getattr(name):
    if name.startswith('__'):
        raise AttributeError(name)
    raise ModuleNotFoundError(
        f"mmcv.ops.{name} needs mmcv's compiled ops, which are not installed "
        "(mmcv-lite). anaus_mm only provides point_sample and "
        'sigmoid_focal_loss as pure-PyTorch stand-ins.')


def has_compiled_mmcv_ops():
    """Whether the installed mmcv ships its compiled extension."""
    try:
        return importlib.util.find_spec('mmcv._ext') is not None
    except ModuleNotFoundError:
        return False


def install_mmcv_ops_standin():
    """Register the pure-PyTorch ``mmcv.ops`` module when ops are missing.

    Returns:
        bool: True if the stand-in is (now) in place, False if full mmcv is
        installed and nothing was changed.
    """
    if has_compiled_mmcv_ops():
        return False
    existing = sys.modules.get('mmcv.ops')
    if existing is not None and getattr(existing, '__anaus_standin__', False):
        return True
    import mmcv
    module = types.ModuleType(
        'mmcv.ops', 'Pure-PyTorch stand-in installed by anaus_mm.compat.')
    module.point_sample = point_sample
    module.sigmoid_focal_loss = sigmoid_focal_loss
    module.__getattr__ = _ops_getattr
    module.__anaus_standin__ = True
    module.__all__ = ['point_sample', 'sigmoid_focal_loss']
    sys.modules['mmcv.ops'] = module
    mmcv.ops = module
    # mmcv's transformer bricks warn on every import that the deformable
    # attention op is missing; that is expected with the stand-in.
    warnings.filterwarnings(
        'ignore', message='Fail to import ``MultiScaleDeformableAttention``')
    return True


# ---------------------------------------------------------------------------
# mmengine checkpoint loading on torch >= 2.6
# ---------------------------------------------------------------------------
def load_from_local_trusted(filename, map_location=None):
    """Load an mmengine checkpoint from a local path (trusted, own files)."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return torch.load(filename, map_location=map_location, weights_only=False)


def install_checkpoint_loader():
    """Make mmengine's local checkpoint loads work on torch >= 2.6."""
    from mmengine.runner.checkpoint import CheckpointLoader
    current = CheckpointLoader._schemes.get('')
    if current is load_from_local_trusted:
        return
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_local_trusted, force=True)


def install():
    """Apply every fix once (safe to call repeatedly)."""
    global _INSTALLED
    if _INSTALLED:
        return
    install_mmcv_ops_standin()
    install_checkpoint_loader()
    _INSTALLED = True
