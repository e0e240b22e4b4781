"""Loading official SAM checkpoints into an encoder of another input size.

SAM's absolute ``pos_embed`` (a 64×64 grid at 1024) and the relative position
tables of its *global-attention* blocks depend on the input size. They are
resized when a state dict is loaded, by a state-dict pre-hook registered on
the image encoder (as mmpretrain's ``ViTSAM`` does):

* ``pos_embed``: bicubic, ``(1, 64, 64, C)`` → ``(1, S/16, S/16, C)``;
* ``blocks.{i}.attn.rel_pos_h/w`` for ``i`` in ``global_attn_indexes``
  (chosen by index, never by name matching): linear, ``127`` →
  ``2·S/16 − 1``. Windowed blocks keep their tables (window size fixed).

Stage-1 LP-SAM checkpoints (a file or a work dir: its best checkpoint, else
its last) are found with :func:`anaus_mm.utils.checkpoint.resolve_checkpoint`
and read with :func:`~anaus_mm.utils.checkpoint.read_checkpoint`, as every
other checkpoint of the project (:func:`load_stage1_checkpoint`).

Each loader refuses the other's files with a one-line
:class:`~anaus_mm.utils.checkpoint.CheckpointError` that says what the file
is and where it goes: an LP-SAM stage-1 / stage-2 checkpoint given as
``sam_checkpoint``, a SAM file (Meta's, the stand-in) or a stage-2
checkpoint given as ``stage1_checkpoint`` (:func:`lpsam_stage_of` tells
them apart by their keys).
"""
import os.path as osp
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.logging import MMLogger
from torch import nn

from ...utils.checkpoint import (CheckpointError, CheckpointNotFoundError,
                                 check_shapes, missing_keys, read_checkpoint,
                                 resolve_checkpoint)

__all__ = [
    'resize_sam_encoder_state', 'register_resize_hook', 'load_sam_checkpoint',
    'load_stage1_checkpoint', 'lpsam_stage_of', 'export_sam_checkpoint',
    'SAM_PREFIXES', 'STAGE1_PREFIXES'
]

#: keys of the official SAM checkpoints (and of LP-SAM's SAM parts)
SAM_PREFIXES = ('image_encoder.', 'prompt_encoder.', 'mask_decoder.')
#: keys a stage-2 model takes from a stage-1 checkpoint
STAGE1_PREFIXES = ('image_encoder.', 'adapters.', 'prompt_encoder.',
                   'mask_decoder.')


def _resize_rel_pos(table: torch.Tensor, length: int) -> torch.Tensor:
    """Linear interpolation of a ``(L, head_dim)`` table to ``length``."""
    out = F.interpolate(table.t().unsqueeze(0).float(), size=length,
                        mode='linear', align_corners=False)
    return out.squeeze(0).t().to(table.dtype)


def resize_sam_encoder_state(state_dict: Dict[str, torch.Tensor], prefix: str,
                             grid: int,
                             global_attn_indexes: Sequence[int]) -> List[str]:
    """Resize position tables in ``state_dict`` (in place) to ``grid``.

    Args:
        state_dict (dict): state dict holding the encoder under ``prefix``.
        prefix (str): e.g. ``'image_encoder.'`` (or ``''``).
        grid (int): token grid side of the target encoder (``img_size/16``).
        global_attn_indexes (Sequence[int]): indexes of the global blocks.

    Returns:
        list[str]: the keys that were resized.
    """
    resized = []
    key = prefix + 'pos_embed'
    pe = state_dict.get(key)
    if pe is not None and pe.dim() == 4 and tuple(pe.shape[1:3]) != (grid,
                                                                     grid):
        new = F.interpolate(pe.permute(0, 3, 1, 2).float(), size=(grid, grid),
                            mode='bicubic', align_corners=False)
        state_dict[key] = new.permute(0, 2, 3, 1).to(pe.dtype).contiguous()
        resized.append(key)
    length = 2 * grid - 1
    for i in global_attn_indexes:
        for name in ('rel_pos_h', 'rel_pos_w'):
            key = f'{prefix}blocks.{i}.attn.{name}'
            table = state_dict.get(key)
            if table is not None and table.dim() == 2 and \
                    table.shape[0] != length:
                state_dict[key] = _resize_rel_pos(table, length)
                resized.append(key)
    return resized


def register_resize_hook(image_encoder: nn.Module,
                         global_attn_indexes: Sequence[int]) -> Callable:
    """Register the resizing pre-hook on a SAM ``ImageEncoderViT``.

    Args:
        image_encoder (nn.Module): the encoder (its ``pos_embed`` gives the
            token grid).
        global_attn_indexes (Sequence[int]): indexes of the global blocks.

    Returns:
        Callable: the registered hook.
    """
    grid = image_encoder.pos_embed.shape[1]
    indexes = tuple(global_attn_indexes)

    def hook(state_dict, prefix, *args, **kwargs):
        keys = resize_sam_encoder_state(state_dict, prefix, grid, indexes)
        if keys:
            MMLogger.get_current_instance().info(
                f'LP-SAM: resized {len(keys)} position tables to a '
                f'{grid}x{grid} token grid')

    image_encoder._register_load_state_dict_pre_hook(hook)
    return hook


def lpsam_stage_of(state: Dict[str, torch.Tensor]) -> int:
    """Which LP-SAM stage a state dict comes from, by its keys (a leading
    ``module.`` of (Distributed)DataParallel ignored).

    Returns:
        int: 2 with ``prompt_engine.*`` keys, 1 with ``adapters.*`` keys,
        0 otherwise (SAM's keys only: Meta's files, the stand-in).
    """
    keys = [k[len('module.'):] if k.startswith('module.') else k
            for k in state]
    if any(k.startswith('prompt_engine.') for k in keys):
        return 2
    if any(k.startswith('adapters.') for k in keys):
        return 1
    return 0


def _num_classes_of(state: Dict[str, torch.Tensor]) -> Optional[int]:
    """The class count of a stage-2 state dict (its prompt tokens)."""
    for key in ('prompt_engine.prompt_tokens',
                'module.prompt_engine.prompt_tokens'):
        if key in state and hasattr(state[key], 'shape'):
            return int(state[key].shape[0])
    return None


def _read(path: str) -> Dict[str, torch.Tensor]:
    """The state dict of an official SAM file (``weights_only=True``).

    The project's own mmengine checkpoints (e.g. the stand-in saved by
    ``tools/train.py``) read too: their extra entries are allow-listed
    (:func:`anaus_mm.compat.install_safe_globals`), nothing is unpickled.

    Raises:
        CheckpointNotFoundError: no such file.
        CheckpointError: unreadable, no state dict, or an LP-SAM stage-1 /
            stage-2 checkpoint (the message says where to pass it).
    """
    from ...compat import install_safe_globals
    if not osp.isfile(path):
        raise CheckpointNotFoundError(f'SAM checkpoint not found: {path}')
    install_safe_globals()
    try:
        ckpt = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # truncated / not a torch file / refused
        raise CheckpointError(f'cannot read SAM checkpoint {path}: '
                              f'{type(e).__name__}: {e}'.splitlines()[0]
                              ) from e
    for wrapper in ('state_dict', 'model'):
        if isinstance(ckpt, dict) and isinstance(ckpt.get(wrapper), dict):
            ckpt = ckpt[wrapper]
    if not isinstance(ckpt, dict):
        raise CheckpointError(f'SAM checkpoint {path} holds no state dict')
    stage = lpsam_stage_of(ckpt)
    if stage == 1:
        raise CheckpointError(
            f'SAM checkpoint {path} is an LP-SAM stage-1 checkpoint '
            '("adapters." keys), not a SAM checkpoint: pass it as '
            'model.stage1_checkpoint of a stage-2 model (or as load_from), '
            'and give sam_checkpoint the SAM file it started from')
    if stage == 2:
        n = _num_classes_of(ckpt)
        raise CheckpointError(
            f'SAM checkpoint {path} is an LP-SAM stage-2 checkpoint '
            f'("prompt_engine." keys, {n} classes), not a SAM checkpoint: '
            'pass it as load_from (or as the checkpoint of '
            'tools/generate_anatomy_masks.py), and give sam_checkpoint the '
            'SAM file it started from')
    return ckpt


def load_sam_checkpoint(
        model: nn.Module,
        path: str,
        grid: int,
        global_attn_indexes: Sequence[int],
        prefixes: Tuple[str, ...] = SAM_PREFIXES
) -> Tuple[List[str], List[str]]:
    """Load an official SAM checkpoint into ``model``'s SAM parts.

    ``model`` owns the attributes ``image_encoder``, ``prompt_encoder`` and
    ``mask_decoder`` (keys as in the official file). Position tables are
    resized first; then every SAM key must match in shape, otherwise a
    ``ValueError`` names the checkpoint, the key and both shapes (a
    checkpoint of another architecture is an error, not a partial load).
    Missing / unexpected keys are logged.

    Args:
        model (nn.Module): the LP-SAM model.
        path (str): e.g. ``sam_vit_b_01ec64.pth``.
        grid (int): the model's token grid side (``img_size / 16``).
        global_attn_indexes (Sequence[int]): indexes of the global blocks.
        prefixes (tuple[str, ...]): the model's keys to fill. Defaults to
            :data:`SAM_PREFIXES`.

    Returns:
        tuple[list[str], list[str]]: missing and unexpected keys.

    Raises:
        FileNotFoundError: no such file.
        ValueError: unreadable, no state dict, another architecture (the
            key and both shapes are named; another input size is resized,
            never an error, as long as the tables are in SAM's layout), no
            shared key, or an LP-SAM stage-1 / stage-2 checkpoint (the
            message says where to pass it instead). All are
            :class:`~anaus_mm.utils.checkpoint.CheckpointError` (one line).
    """
    logger = MMLogger.get_current_instance()
    state = dict(_read(path))
    resize_sam_encoder_state(state, 'image_encoder.', grid,
                             global_attn_indexes)
    own = {k: v for k, v in model.state_dict().items()
           if k.startswith(prefixes)}
    for key, value in state.items():
        if key in own and tuple(own[key].shape) != tuple(value.shape):
            hint = ('another architecture, or a position table that cannot '
                    f'be resized to the {grid * 16}px input'
                    if key.endswith(('pos_embed', 'rel_pos_h', 'rel_pos_w'))
                    else 'wrong arch?')
            raise CheckpointError(
                f'SAM checkpoint {path} does not fit this architecture: '
                f'key "{key}" has shape {tuple(value.shape)} in the '
                f'checkpoint but {tuple(own[key].shape)} in the model '
                f'({hint})')
    missing = sorted(k for k in own if k not in state)
    unexpected = sorted(k for k in state if k not in own)
    if len(missing) == len(own):
        raise CheckpointError(
            f'SAM checkpoint {path} shares no key with the model (expected '
            f'keys like "{next(iter(own))}")')
    model.load_state_dict({k: v for k, v in state.items() if k in own},
                          strict=False)
    logger.info(f'LP-SAM: loaded SAM checkpoint {path}: '
                f'{len(own) - len(missing)}/{len(own)} keys matched')
    if missing:
        logger.warning(f'LP-SAM: missing keys in {path}: {missing}')
    if unexpected:
        logger.warning(f'LP-SAM: unexpected keys in {path}: {unexpected}')
    return missing, unexpected


def load_stage1_checkpoint(model: nn.Module, path: str) -> str:
    """Load the encoder, adapters, prompt encoder and decoder of a stage-1
    checkpoint into a (stage-2) LP-SAM model.

    Args:
        model (nn.Module): the LP-SAM model.
        path (str): a stage-1 ``.pth`` or a stage-1 work dir (its best
            checkpoint, else its last).

    Returns:
        str: the checkpoint file that was loaded.

    Raises:
        FileNotFoundError: no checkpoint there.
        ValueError: the file is unreadable, is no stage-1 checkpoint (a SAM
            file, or a stage-2 checkpoint: the message says which and where
            it goes) or does not fit the architecture (the key and both
            shapes are named).
    """
    what = 'stage-1 checkpoint'
    path = resolve_checkpoint(path, what=what)
    state, _ = read_checkpoint(path, what=what)
    stage = lpsam_stage_of(state)
    if stage == 0:
        raise CheckpointError(
            f'{path} is not a stage-1 LP-SAM checkpoint (no "adapters." '
            'keys): a SAM checkpoint (Meta\'s or a stand-in) goes to '
            'sam_checkpoint; stage1_checkpoint takes the checkpoint or work '
            'dir of an LP-SAM stage-1 run')
    if stage == 2:
        n, own = _num_classes_of(state), getattr(model, 'num_classes', None)
        classes = (f'{n} classes' if own in (None, n) else
                   f'{n} classes, this model {own}')
        raise CheckpointError(
            f'{path} is an LP-SAM stage-2 checkpoint ("prompt_engine." keys,'
            f' {classes}), not a stage-1 checkpoint: stage1_checkpoint takes'
            ' the checkpoint or work dir of the stage-1 run; to start from '
            'this stage-2 model use load_from (model.stage1_checkpoint=None;'
            ' a prompt engine of another class count is then not loaded)')
    load = {k: v for k, v in state.items() if k.startswith(STAGE1_PREFIXES)}
    check_shapes(model, load, path, what=what)
    missing = missing_keys(model, load, STAGE1_PREFIXES)
    model.load_state_dict(load, strict=False)
    logger = MMLogger.get_current_instance()
    logger.info(f'LP-SAM: loaded stage-1 weights from {path} '
                f'({len(load)} keys)')
    if missing:
        logger.warning(f'LP-SAM: keys missing in {path}: {missing}')
    return path


def export_sam_checkpoint(src: str,
                          dst: str,
                          meta: Optional[dict] = None) -> Dict[str, object]:
    """Write a stage-0 LP-SAM checkpoint (the SAM stand-in) in the official
    SAM layout.

    Meta's files are a bare state dict of ``image_encoder.*``,
    ``prompt_encoder.*`` and ``mask_decoder.*`` tensors; so is ``dst``
    (float32, nothing else: it loads with ``weights_only=True`` wherever a
    SAM checkpoint does). A sidecar ``dst + '.json'`` records where it came
    from, its architecture and input size (from ``meta``), the number of
    tensors and the file's sha256. Both are written atomically.

    Args:
        src (str): a stage-0 checkpoint file or work dir (its best
            checkpoint, else its last).
        dst (str): the ``.pth`` to write.
        meta (dict, optional): extra fields of the sidecar (e.g. ``arch``,
            ``img_size``, the command that made it).

    Returns:
        dict: the sidecar's content.

    Raises:
        CheckpointError: ``src`` is not a stage-0 checkpoint (it holds
            adapters or a prompt engine, or no SAM key).
    """
    import hashlib
    import io
    import json

    from ...utils.io import atomic_write_bytes, atomic_write_text
    path = resolve_checkpoint(src, what='stage-0 (SAM stand-in) checkpoint')
    state, _ = read_checkpoint(path, what='stage-0 checkpoint')
    stage = lpsam_stage_of(state)
    if stage:
        raise CheckpointError(
            f'{path} is an LP-SAM stage-{stage} checkpoint, not a stage-0 '
            'SAM (stand-in) checkpoint: only SAM itself is exported')
    sam = {k: v.detach().float().contiguous() for k, v in state.items()
           if k.startswith(SAM_PREFIXES)}
    if not sam:
        raise CheckpointError(f'{path} holds no SAM key (expected keys like '
                              '"image_encoder.pos_embed")')
    buf = io.BytesIO()
    torch.save(sam, buf)
    data = buf.getvalue()
    info = dict(source=path, tensors=len(sam),
                parameters=int(sum(v.numel() for v in sam.values())),
                bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    info.update(meta or {})
    atomic_write_bytes(dst, data)
    atomic_write_text(dst + '.json', json.dumps(info, indent=1) + '\n')
    return info
