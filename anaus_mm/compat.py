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
2. Safe checkpoint loading. ``torch.load`` defaults to ``weights_only=True``
   on torch >= 2.6, and mmengine's own checkpoints (which pickle
   ``HistoryBuffer`` and numpy scalars for resuming) fail to load. Instead of
   unpickling them, we allow-list exactly the types they contain
   (:func:`checkpoint_safe_globals`, via
   :func:`torch.serialization.add_safe_globals`) and register a local-file
   loader for mmengine's ``CheckpointLoader`` that reads every file with
   ``weights_only=True``: ``--resume``, ``load_from``, ``--pretrained`` and
   ``init_cfg=dict(type='Pretrained')`` all go through it. A file whose
   pickle would call anything else (code) is refused with
   :class:`UnsafeCheckpointError`, a one-line error naming the file and the
   global. Full unpickling is possible only when the user opts in with the
   environment variable ``ANAUS_UNSAFE_LOAD=1`` (``tools/train.py
   --unsafe-load`` sets it); each such load logs a warning naming the file.

Both are idempotent. After ``import anaus_mm`` (which itself imports
nothing heavy) they are installed right before ``mmseg`` or ``mmpretrain`` is
imported (:mod:`anaus_mm.registry`), so ``import anaus_mm`` has to happen
before anything imports ``mmseg``; :func:`anaus_mm.register_all_modules`
installs them at once.
"""
import importlib.util
import logging
import os
import os.path as osp
import pickle
import re
import sys
import types
import warnings
from typing import Any, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F

from .utils.errors import AnausError

_INSTALLED = False


# ---------------------------------------------------------------------------
# mmcv.ops stand-in
# ---------------------------------------------------------------------------
def point_sample(input: torch.Tensor,
                 points: torch.Tensor,
                 align_corners: bool = False,
                 **kwargs: Any) -> torch.Tensor:
    """Sample ``input`` at normalised ``points`` in ``[0, 1]`` coordinates.

    Same contract as ``mmcv.ops.point_sample``: ``points`` is ``(N, P, 2)``
    (or ``(N, Hp, Wp, 2)``) holding ``(x, y)`` in ``[0, 1]``; the result is
    ``(N, C, P)`` (or ``(N, C, Hp, Wp)``).

    Args:
        input (Tensor): feature map (N, C, H, W).
        points (Tensor): ``(x, y)`` in ``[0, 1]``, (N, P, 2) or
            (N, Hp, Wp, 2).
        align_corners (bool): passed to :func:`F.grid_sample`.
        **kwargs: further arguments of :func:`F.grid_sample`.

    Returns:
        Tensor: the sampled features, (N, C, P) or (N, C, Hp, Wp).
    """
    add_dim = points.dim() == 3
    if add_dim:
        points = points.unsqueeze(2)
    output = F.grid_sample(
        input, 2.0 * points - 1.0, align_corners=align_corners, **kwargs)
    if add_dim:
        output = output.squeeze(3)
    return output


def sigmoid_focal_loss(input: torch.Tensor,
                       target: torch.Tensor,
                       gamma: float = 2.0,
                       alpha: float = 0.25,
                       weight: Optional[torch.Tensor] = None,
                       reduction: str = 'mean') -> torch.Tensor:
    """Sigmoid focal loss with class-index targets (``mmcv.ops`` contract).

    ``input`` is ``(N, C)`` logits and ``target`` ``(N,)`` class indices; an
    index equal to ``C`` means background (no positive class). ``weight`` is
    an optional per-sample ``(N,)`` weight. ``'mean'`` divides the sum by N,
    as mmcv's kernel does.

    Args:
        input (Tensor): logits (N, C).
        target (Tensor): class indices (N,); ``C`` is background.
        gamma (float): focusing exponent.
        alpha (float): weight of the positive term.
        weight (Tensor, optional): per-sample weights (N,).
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.

    Returns:
        Tensor: the loss, (N, C) for ``'none'``, else a scalar.

    Raises:
        ValueError: An unsupported ``reduction``.
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


def has_compiled_mmcv_ops() -> bool:
    """Whether the installed mmcv ships its compiled extension.

    Returns:
        bool: True if ``mmcv._ext`` can be found.
    """
    try:
        return importlib.util.find_spec('mmcv._ext') is not None
    except ModuleNotFoundError:
        return False


def install_mmcv_ops_standin() -> bool:
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
#: Environment variable that allows full unpickling of checkpoint files.
UNSAFE_LOAD_ENV = 'ANAUS_UNSAFE_LOAD'

_HOW_TO_TRUST = (f'set {UNSAFE_LOAD_ENV}=1 (tools/train.py: --unsafe-load) '
                 'to trust it')

# HistoryBuffer pickles its statistics methods by reference; under pickle
# protocol 2 (torch.save's) a method is written as getattr(HistoryBuffer,
# 'min'). These are the only attribute look-ups a checkpoint may make.
_HISTORY_BUFFER_METHODS = ('min', 'max', 'current', 'mean')
_REFUSED_GETATTR = 'refused builtins.getattr'


class UnsafeCheckpointError(AnausError, pickle.UnpicklingError):
    """A checkpoint that only loads by unpickling code-running objects.

    The message is one line: the file, the offending global and how to opt
    in. The CLI prints it as ``tool: error: ...`` with exit code 2.

    Args:
        filename (str): The refused file.
        culprit (str): The global (``module.name``) that is not allowed.
    """

    def __init__(self, filename: str, culprit: str) -> None:
        self.filename = filename
        self.culprit = culprit
        super().__init__(
            f'{filename}: refused: the file needs unpickling of {culprit}, '
            f'which can run code; {_HOW_TO_TRUST}')


def _history_buffer_getattr(owner: Any, name: str) -> Any:
    """Stand-in for ``builtins.getattr`` inside ``weights_only`` loads.

    Resolves only ``HistoryBuffer.<min|max|current|mean>`` (how mmengine
    checkpoints reference the buffers' statistics methods) and refuses any
    other look-up, so that ``builtins.getattr`` itself is never allowed.
    """
    from mmengine.logging import HistoryBuffer
    if owner is HistoryBuffer and name in _HISTORY_BUFFER_METHODS:
        return getattr(HistoryBuffer, name)
    what = getattr(owner, '__qualname__', type(owner).__qualname__)
    raise pickle.UnpicklingError(f'{_REFUSED_GETATTR}({what}, {name!r})')


def checkpoint_safe_globals() -> List[Union[Any, Tuple[Any, str]]]:
    """Globals that mmengine's own checkpoints need beyond torch's defaults.

    Everything here builds data and runs no code: mmengine's
    ``HistoryBuffer`` (message-hub log scalars; its ``__setstate__`` only
    stores the state), numpy's array/scalar/dtype reconstructors (under both
    the numpy 1 and numpy 2 module names) and numeric dtype classes, and
    ``collections.OrderedDict``. ``builtins.getattr`` is mapped to
    :func:`_history_buffer_getattr`, which resolves only the buffers'
    statistics methods.

    Returns:
        list: Entries for :func:`torch.serialization.add_safe_globals`.
    """
    import collections

    import numpy as np
    from mmengine.logging import HistoryBuffer
    try:  # numpy >= 2 (numpy.core is deprecated there)
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:
        from numpy.core.multiarray import _reconstruct, scalar

    dtype_classes = {type(np.dtype(code)) for code in
                     '?' + np.typecodes['AllInteger'] +
                     np.typecodes['AllFloat']}
    entries: List[Union[Any, Tuple[Any, str]]] = [
        HistoryBuffer, collections.OrderedDict, np.ndarray, np.dtype,
        (_history_buffer_getattr, 'builtins.getattr')]
    entries += sorted(dtype_classes, key=lambda c: c.__name__)
    for core in ('numpy.core', 'numpy._core'):
        entries += [(_reconstruct, f'{core}.multiarray._reconstruct'),
                    (scalar, f'{core}.multiarray.scalar')]
    return entries


def install_safe_globals() -> None:
    """Allow-list :func:`checkpoint_safe_globals` for ``weights_only`` loads.

    Idempotent; afterwards ``torch.load(f, weights_only=True)`` reads the
    project's own mmengine checkpoints anywhere in the process.
    """
    import torch.serialization as serialization
    known = serialization.get_safe_globals()
    missing = [g for g in checkpoint_safe_globals() if g not in known]
    if missing:
        serialization.add_safe_globals(missing)


def unsafe_load_enabled() -> bool:
    """Whether the user opted in to full unpickling (``ANAUS_UNSAFE_LOAD``).

    Returns:
        bool: True when the variable is ``1``, ``true`` or ``yes``.
    """
    value = os.environ.get(UNSAFE_LOAD_ENV, '').strip().lower()
    return value in ('1', 'true', 'yes')


def _refused_global(filename: str, error: Exception) -> str:
    """Name the global a ``weights_only`` load of ``filename`` tripped on."""
    text = str(error)
    match = re.search(re.escape(_REFUSED_GETATTR) + r'(\(.*?\))', text)
    if match:
        return 'builtins.getattr' + match.group(1)
    try:
        import torch.serialization as serialization
        unsafe = serialization.get_unsafe_globals_in_checkpoint(filename)
    except Exception:  # noqa: BLE001  (not a zip checkpoint)
        unsafe = []
    if unsafe:
        return ', '.join(sorted(unsafe))
    match = re.search(r'GLOBAL ([\w.]+)', text) or re.search(
        r'unrecognized function ([^\n]+)', text)
    if match:
        return match.group(1).strip()
    return 'objects outside the allow-list'


def load_checkpoint_file(filename: str, map_location: Any = None,
                         trusted: Optional[bool] = None) -> Any:
    """Load a local checkpoint with ``torch.load``, safely by default.

    By default the file is read with ``weights_only=True`` plus the
    allow-list of :func:`checkpoint_safe_globals`, which covers the
    project's own mmengine checkpoints (resume, ``load_from``,
    ``--pretrained``) and plain state dicts. A file whose pickle would need
    anything else (a callable that can run code) is refused.

    Args:
        filename (str): Path of the checkpoint.
        map_location (Any): As :func:`torch.load`.
        trusted (bool, optional): Fully unpickle the file (it can run code).
            ``None`` (default) reads the opt-in from the environment
            variable ``ANAUS_UNSAFE_LOAD``. Every trusted load logs a
            warning naming the file.

    Returns:
        Any: The loaded object.

    Raises:
        FileNotFoundError: ``filename`` does not exist.
        UnsafeCheckpointError: The file needs unpickling of a global outside
            the allow-list and ``trusted`` is off.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    if trusted is None:
        trusted = unsafe_load_enabled()
    if trusted:
        from mmengine.logging import print_log
        print_log(f'{filename}: fully unpickling the checkpoint '
                  f'({UNSAFE_LOAD_ENV}): the file can run code, load it only '
                  'if you trust its source', logger='current',
                  level=logging.WARNING)
    install_safe_globals()
    try:
        return torch.load(filename, map_location=map_location,
                          weights_only=not trusted)
    except pickle.UnpicklingError as e:
        if trusted:
            raise
        raise UnsafeCheckpointError(filename,
                                    _refused_global(filename, e)) from e


def load_from_local(filename: str, map_location: Any = None) -> Any:
    """mmengine ``CheckpointLoader`` scheme for local files.

    Args:
        filename (str): Path of the checkpoint.
        map_location (Any): As :func:`torch.load`.

    Returns:
        Any: The loaded checkpoint (see :func:`load_checkpoint_file`).
    """
    return load_checkpoint_file(filename, map_location=map_location)


def install_checkpoint_loader() -> None:
    """Route mmengine's local checkpoint loads through the safe loader."""
    from mmengine.runner.checkpoint import CheckpointLoader
    install_safe_globals()
    current = CheckpointLoader._schemes.get('')
    if current is load_from_local:
        return
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_local, force=True)


def install() -> None:
    """Apply every fix once (safe to call repeatedly)."""
    global _INSTALLED
    if _INSTALLED:
        return
    install_mmcv_ops_standin()
    install_checkpoint_loader()
    _INSTALLED = True
