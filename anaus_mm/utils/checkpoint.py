"""Reading model checkpoints for inference and warm starts.

One place for what every caller used to repeat: the file check, reading with
mmengine's :func:`~mmengine.runner.checkpoint._load_checkpoint` (so the
loaders registered with ``CheckpointLoader`` apply), taking the state dict
out of an mmengine checkpoint, removing the ``module.`` prefix of
(Distributed)DataParallel with the same ``revise_keys`` convention as
:func:`mmengine.runner.load_checkpoint`, and a shape check that names the
first key that does not fit, and :func:`resolve_checkpoint` turning a work
dir into its best or last checkpoint (mmengine's
:func:`~mmengine.runner.find_latest_checkpoint`).

Example::

    state, ckpt = read_checkpoint('work_dirs/x/best.pth')
    check_shapes(model, state, 'work_dirs/x/best.pth')
    load_state_dict(model, state, strict=False)
"""
import glob
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import torch
from torch import nn

from .errors import AnausError

__all__ = [
    'CheckpointError', 'CheckpointNotFoundError', 'DDP_PREFIX',
    'read_checkpoint', 'check_shapes', 'missing_keys', 'resolve_checkpoint'
]

#: ``revise_keys`` removing the prefix that (Distributed)DataParallel adds
DDP_PREFIX: List[Tuple[str, str]] = [(r'^module\.', '')]


class CheckpointError(AnausError, ValueError):
    """A checkpoint that cannot be read or does not fit the model; the
    message is one line naming the file."""


class CheckpointNotFoundError(AnausError, FileNotFoundError):
    """A checkpoint path that is not a file."""


def resolve_checkpoint(path: str,
                       prefer_best: bool = True,
                       what: str = 'checkpoint') -> str:
    """A checkpoint file, or the checkpoint a work dir points to.

    A file is returned as it is. For a work dir, the newest ``best_*.pth``
    that mmengine's ``CheckpointHook(save_best=...)`` kept (when
    ``prefer_best``), else the file named in its ``last_checkpoint``
    (:func:`mmengine.runner.find_latest_checkpoint`). A ``last_checkpoint``
    written under another working directory (a relative path that no longer
    resolves, a moved work dir) falls back to the same file name inside
    ``path``.

    Args:
        path (str): a ``.pth`` file or a work dir of ``tools/train.py``.
        prefer_best (bool): take the best checkpoint over the last one.
            Defaults to True.
        what (str): how messages name the checkpoint, e.g. ``'stage-1
            checkpoint'``. Defaults to 'checkpoint'.

    Returns:
        str: the checkpoint file.

    Raises:
        CheckpointNotFoundError: ``path`` is neither a file nor a work dir
            holding a checkpoint (a ``FileNotFoundError``).
    """
    from mmengine.runner import find_latest_checkpoint
    if osp.isfile(path):
        return path
    if not osp.isdir(path):
        raise CheckpointNotFoundError(f'{what} not found: {path}')
    if prefer_best:
        best = sorted(glob.glob(osp.join(glob.escape(path), 'best_*.pth')),
                      key=lambda f: (osp.getmtime(f), f))
        if best:
            return best[-1]
    last = find_latest_checkpoint(path) \
        if osp.isfile(osp.join(path, 'last_checkpoint')) else None
    if last:
        for candidate in (last, osp.join(path, osp.basename(last))):
            if osp.isfile(candidate):
                return candidate
        raise CheckpointNotFoundError(
            f'{what}: {osp.join(path, "last_checkpoint")} names {last}, '
            'which does not exist')
    raise CheckpointNotFoundError(
        f'no {what} in work dir {path} (no best_*.pth, no last_checkpoint)')


def read_checkpoint(
    path: str,
    map_location: str = 'cpu',
    revise_keys: Sequence[Tuple[str, str]] = DDP_PREFIX,
    what: str = 'checkpoint',
) -> Tuple[Dict[str, torch.Tensor], dict]:
    """Read a checkpoint file and return its state dict.

    Args:
        path (str): a local ``.pth`` file (an mmengine checkpoint with a
            ``state_dict`` entry, or a bare state dict).
        map_location (str): where to put the tensors. Defaults to 'cpu'.
        revise_keys (Sequence[tuple[str, str]]): ``(pattern, replacement)``
            pairs applied with :func:`re.sub` to every key, in order.
            Defaults to :data:`DDP_PREFIX` (drop a leading ``module.``).
        what (str): how messages name the file, e.g. ``'stage-1
            checkpoint'``. Defaults to 'checkpoint'.

    Returns:
        tuple[dict, dict]: the revised state dict and the whole checkpoint
        (for its ``meta``; the state dict itself when the file holds only
        that).

    Raises:
        CheckpointNotFoundError: ``path`` is not a file (a
            ``FileNotFoundError``).
        CheckpointError: the file cannot be read or holds no state dict.
    """
    from mmengine.runner.checkpoint import _load_checkpoint
    if not osp.isfile(path):
        raise CheckpointNotFoundError(f'{what} file not found: {path}')
    try:
        ckpt = _load_checkpoint(path, map_location=map_location)
    except Exception as e:  # truncated file, not a torch file, refused
        raise CheckpointError(f'cannot read {what} {path}: '
                              f'{type(e).__name__}: {e}'.splitlines()[0]
                              ) from e
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise CheckpointError(f'{what} {path} holds no state dict')
    for pattern, repl in revise_keys:
        state = OrderedDict(
            (re.sub(pattern, repl, k), v) for k, v in state.items())
    return state, ckpt


def _own_state(model: nn.Module) -> Dict[str, torch.Tensor]:
    return model.state_dict() if isinstance(model, nn.Module) else model


def check_shapes(model: nn.Module,
                 state: Dict[str, torch.Tensor],
                 path: str,
                 what: str = 'checkpoint',
                 keys: Optional[Iterable[str]] = None) -> None:
    """Raise if a tensor of ``state`` has another shape than in ``model``.

    Args:
        model (nn.Module | dict): the model, or its state dict.
        state (dict): the state dict to be loaded.
        path (str): the checkpoint file, for the message.
        what (str): how the message names the file.
        keys (Iterable[str], optional): check only these keys of ``state``.
            Defaults to all.

    Raises:
        CheckpointError: naming the first key that does not fit and both
        shapes.
    """
    own = _own_state(model)
    for k in (state if keys is None else keys):
        if k in own and k in state and \
                tuple(own[k].shape) != tuple(state[k].shape):
            raise CheckpointError(
                f'{what} {path} does not fit the model: key "{k}" has shape '
                f'{tuple(state[k].shape)} in the checkpoint but '
                f'{tuple(own[k].shape)} in the model')


def missing_keys(model: nn.Module,
                 state: Dict[str, torch.Tensor],
                 prefixes: Optional[Tuple[str, ...]] = None) -> List[str]:
    """Keys of ``model`` (starting with one of ``prefixes``, when given)
    that ``state`` lacks, in the model's order."""
    return [
        k for k in _own_state(model)
        if k not in state and (prefixes is None or k.startswith(prefixes))
    ]
