"""Build mmengine Runners for the tools, with readable registry errors."""
import contextlib
import re
from typing import Iterator, Optional

from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from anaus_mm.utils.errors import AnausError



class UnknownTypeError(AnausError, KeyError):
    """A config names a ``type`` that no registry knows."""

    def __str__(self) -> str:  # KeyError would quote the message
        """The message, unquoted."""
        return str(self.args[0]) if self.args else ''


_MISSING_TYPE = re.compile(r'(\S+) is not in the (\S+) registry')


@contextlib.contextmanager
def readable_registry_errors() -> Iterator[None]:
    """Turn "X is not in the scope::kind registry" into a one-line error.

    Yields:
        None: Runs the ``with`` block.

    Raises:
        UnknownTypeError: Instead of mmengine's ``KeyError`` for an
            unregistered type (other ``KeyError`` s propagate unchanged).
    """
    try:
        yield
    except KeyError as e:
        text = str(e.args[0]) if e.args else str(e)
        match = _MISSING_TYPE.search(text)
        if match is None:
            raise
        name, registry = match.groups()
        raise UnknownTypeError(
            f'unknown type "{name.strip(chr(96))}": it is not registered in '
            f'the {registry} registry (check the spelling, and that the '
            "config has custom_imports=dict(imports=['anaus_mm'])") from e


@contextlib.contextmanager
def readable_dataset_errors() -> Iterator[None]:
    """Report dataset layout problems (found when the dataloaders are built)
    as one line instead of a traceback.

    Yields:
        None: Runs the ``with`` block.

    Raises:
        DatasetLayoutError: The same error type, its message on one line.
    """
    from anaus_mm.datasets.utils import DatasetLayoutError
    try:
        yield
    except DatasetLayoutError as e:
        raise type(e)(str(e).strip().replace('\n', ' | ')) from e


def build_runner(cfg: Config) -> Runner:
    """Build a Runner (or ``cfg.runner_type``) from a config.

    Args:
        cfg (Config): The full config.

    Returns:
        Runner: The runner, not started.
    """
    with readable_registry_errors():
        if 'runner_type' not in cfg:
            return Runner.from_cfg(cfg)
        return RUNNERS.build(cfg)


def init_cpu_distributed(launcher: Optional[str]) -> bool:
    """Start the gloo process group for ``--launcher pytorch`` without CUDA.

    mmengine's pytorch launcher calls ``torch.cuda.set_device``, which fails
    on a machine without a GPU. torchrun already set the rendezvous
    environment, so we initialise the default group with gloo from it; the
    Runner then sees an initialised group and does not initialise again.
    Does nothing with CUDA, without a launcher, or when already initialised.

    Args:
        launcher (str, optional): The ``--launcher`` of the tool ('none',
            'pytorch', ...).

    Returns:
        bool: True if this call initialised the process group.
    """
    import torch
    import torch.distributed as dist
    if launcher != 'pytorch' or torch.cuda.is_available():
        return False
    if dist.is_available() and dist.is_initialized():
        return False
    dist.init_process_group(backend='gloo', init_method='env://')
    return True
