"""Engine pieces: hooks and runner helpers."""
from . import hooks  # noqa: F401
from .cpu_ddp import CPUDistributedDataParallel

__all__ = ['CPUDistributedDataParallel']
