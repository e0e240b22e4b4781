"""Shared plumbing of the command-line tools in ``tools/``.

Every user-facing script turns bad input into one clear line on stderr and a
non-zero exit code (no traceback wall): raise :class:`CLIError` and wrap the
entry point with :func:`run_cli`.
"""
import difflib
import logging
import os
import os.path as osp
import sys
import tempfile
from typing import Callable, Iterable, List, NoReturn, Optional

from mmengine.config import Config, DictAction
from mmengine.logging import print_log

from .errors import AnausError

__all__ = [
    'CLIError', 'run_cli', 'load_config', 'check_cfg_options',
    'check_writable_dir', 'adapt_to_device', 'pretrained_init_cfg',
    'default_work_dir',
    'DictAction'
]


class CLIError(AnausError):
    """An input problem reported to the user as a single line."""


def run_cli(main: Callable[[Optional[List[str]]], Optional[int]],
            argv: Optional[List[str]] = None) -> NoReturn:
    """Run ``main(argv)``; turn :class:`~anaus_mm.utils.errors.AnausError`
    (:class:`CLIError` and the library's one-line errors) into one line on
    stderr and exit code 2.

    Args:
        main (Callable): The tool's entry point; returns an exit code or
            None.
        argv (List[str], optional): The arguments; None: ``sys.argv[1:]``
            (as argparse reads them).

    Raises:
        SystemExit: Always: ``main``'s code (0 for None), 2 for an
            ``AnausError``, 130 when interrupted.
    """
    try:
        ret = main(argv)
    except AnausError as e:
        prog = osp.basename(sys.argv[0]) or 'anaus_mm'
        print(f'{prog}: error: {e}', file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        sys.exit(130)
    sys.exit(ret or 0)


def _suggest(path):
    """Close matches of a mistyped config path, searched in its folder."""
    folder = osp.dirname(path) or '.'
    while folder and not osp.isdir(folder):
        folder = osp.dirname(folder)
    folder = folder or '.'
    names = []
    for root, _, files in os.walk(folder):
        names += [osp.relpath(osp.join(root, f)) for f in files
                  if f.endswith('.py')]
        if len(names) > 5000:
            break
    return difflib.get_close_matches(osp.relpath(path), names, n=3,
                                     cutoff=0.6)


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Load a config with clear errors, then apply ``--cfg-options``.

    Args:
        path (str): The config file.
        cfg_options (dict, optional): ``--cfg-options`` overrides (dotted
            keys); each must exist (see :func:`check_cfg_options`).

    Returns:
        Config: The loaded config, overrides merged.

    Raises:
        CLIError: If the file is missing (with close matches) or does not
            load, or an override names no existing key.
    """
    if not osp.isfile(path):
        hint = _suggest(path)
        more = f' (did you mean: {", ".join(hint)}?)' if hint else ''
        raise CLIError(f'config file not found: {path}{more}')
    try:
        cfg = Config.fromfile(path)
    except Exception as e:  # syntax errors, missing bases, bad imports
        raise CLIError(f'cannot load config {path}: '
                       f'{type(e).__name__}: {e}'.splitlines()[0]) from e
    if cfg_options:
        check_cfg_options(cfg, cfg_options, path)
        cfg.merge_from_dict(cfg_options)
    return cfg


def _lookup(node, part):
    if isinstance(node, (list, tuple)):
        if not part.isdigit() or int(part) >= len(node):
            return False, None
        return True, node[int(part)]
    if isinstance(node, dict):
        if part in node:
            return True, node[part]
    return False, None


def check_cfg_options(cfg: Config,
                      options: Iterable[str],
                      path: str = 'config') -> None:
    """Refuse ``--cfg-options`` keys that do not exist in the config.

    Every dotted key must name an existing entry; the last part may be new
    only when its parent is a dict whose ``type`` allows arbitrary keyword
    arguments is unknowable here, so we are strict and suggest close matches
    instead. To add a brand-new key, write it in the config file.

    Args:
        cfg (Config): The loaded config.
        options (Iterable[str]): The dotted keys (a ``--cfg-options`` dict
            iterates over its keys).
        path (str): The config's name, used in the error message.

    Raises:
        CLIError: Naming the first missing key, with close matches.
    """
    for key in options:
        node = cfg._cfg_dict if hasattr(cfg, '_cfg_dict') else cfg
        walked = []
        for part in key.split('.'):
            found, child = _lookup(node, part)
            if not found:
                where = '.'.join(walked) or '<top level>'
                keys = list(node.keys()) if isinstance(node, dict) else []
                hint = difflib.get_close_matches(part, keys, n=3)
                more = f' (did you mean: {", ".join(hint)}?)' if hint else ''
                raise CLIError(
                    f'--cfg-options key "{key}" does not exist in {path}: '
                    f'no "{part}" under {where}{more}')
            walked.append(part)
            node = child


def default_work_dir(config: str, suffix: str = '') -> str:
    """``work_dirs/<config name><suffix>``, the tools' default output."""
    return osp.join('./work_dirs',
                    osp.splitext(osp.basename(config))[0] + suffix)


def pretrained_init_cfg(checkpoint: str, prefix: str = 'backbone.') -> dict:
    """``init_cfg`` of a backbone initialised from ``checkpoint``.

    Accepts a whole pre-training checkpoint (its online backbone is taken
    with ``prefix='backbone.'``) or a plain backbone state dict, e.g. from
    ``tools/model_converters/extract_backbone.py`` (loaded as is).

    Args:
        checkpoint (str): The checkpoint file.
        prefix (str): Key prefix of the backbone in a whole-model checkpoint.
            Defaults to 'backbone.'.

    Returns:
        dict: ``dict(type='Pretrained', checkpoint=..., [prefix=...])``.

    Raises:
        CLIError: If the file does not exist.
    """
    import torch
    if not osp.isfile(checkpoint):
        raise CLIError(f'--pretrained checkpoint not found: {checkpoint}')
    try:
        ckpt = torch.load(checkpoint, map_location='cpu', weights_only=True)
    except Exception:
        # mmengine training checkpoints pickle more than tensors; they are
        # whole models, so their backbone sits under the prefix.
        return dict(type='Pretrained', checkpoint=checkpoint, prefix=prefix)
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else {}
    if not any(str(k).startswith(prefix) for k in state):
        return dict(type='Pretrained', checkpoint=checkpoint)
    return dict(type='Pretrained', checkpoint=checkpoint, prefix=prefix)


def check_writable_dir(path: str, what: str = 'work dir') -> None:
    """Create ``path`` if needed and check that files can be written there.

    Args:
        path (str): The folder.
        what (str): Its role, used in the error message.

    Raises:
        CLIError: If it cannot be created or written.
    """
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix='.write_test_'):
            pass
    except OSError as e:
        raise CLIError(f'{what} {path} is not writable: {e.strerror}') from e


def adapt_to_device(cfg: Config,
                    amp: bool = False,
                    launcher: str = 'none') -> Config:
    """Adjust a config to the machine it runs on.

    * ``--amp`` needs CUDA: a clear error without it.
    * ``AmpOptimWrapper`` without CUDA falls back to ``OptimWrapper`` with a
      single warning (GPU configs still run on a laptop).
    * Distributed without CUDA uses the gloo backend and
      :class:`~anaus_mm.engine.cpu_ddp.CPUDistributedDataParallel`.

    Args:
        cfg (Config): The config, changed in place.
        amp (bool): ``--amp`` was given. Defaults to False.
        launcher (str): The ``--launcher``. Defaults to 'none'.

    Returns:
        Config: ``cfg``.

    Raises:
        CLIError: ``--amp`` without CUDA.
    """
    import torch
    cuda = torch.cuda.is_available()
    if amp:
        if not cuda:
            raise CLIError('--amp needs a CUDA GPU, and none is available '
                           '(run without --amp on CPU)')
        wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if wrapper == 'AmpOptimWrapper':
            print_log('AMP is already enabled in the config.',
                      logger='current', level=logging.WARNING)
        else:
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    elif not cuda and cfg.get('optim_wrapper', {}).get('type') == \
            'AmpOptimWrapper':
        print_log('No CUDA device: AmpOptimWrapper falls back to '
                  'OptimWrapper (full precision).', logger='current',
                  level=logging.WARNING)
        cfg.optim_wrapper.type = 'OptimWrapper'
        for key in ('loss_scale', 'dtype', 'use_fsdp'):
            cfg.optim_wrapper.pop(key, None)
    if launcher != 'none' and not cuda:
        env_cfg = cfg.setdefault('env_cfg', {})
        env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
        wrapper_cfg = cfg.get('model_wrapper_cfg') or {}
        if wrapper_cfg.get('type', 'MMDistributedDataParallel') == \
                'MMDistributedDataParallel':
            wrapper_cfg['type'] = 'CPUDistributedDataParallel'
        cfg.model_wrapper_cfg = wrapper_cfg
    return cfg
