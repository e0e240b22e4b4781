"""Utilities: version check, Grad-CAM, checkpoints, I/O, CLI helpers.

Importing this package imports nothing heavy; ``GradCAM`` and ``overlay``
(torch) load on first access.
"""
import importlib
from typing import Any, List

#: exported names → the submodule that defines them (imported on access)
_LAZY = {
    'check_dependencies': 'version_check',
    'GradCAM': 'grad_cam',
    'overlay': 'grad_cam',
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    """Import an exported name's module on first access (PEP 562)."""
    if name not in _LAZY:
        raise AttributeError(
            f'module {__name__!r} has no attribute {name!r}')
    value = getattr(importlib.import_module(f'{__name__}.{_LAZY[name]}'),
                    name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_LAZY))
