"""anaus_mm: anatomy-anchored self-supervised pre-training for ultrasound.

``import anaus_mm`` is cheap: it imports neither torch nor OpenMMLab. It
arranges (:mod:`anaus_mm.registry`) that, when OpenMMLab is used,

* the OpenMMLab versions are checked and the compatibility fixes of
  :mod:`anaus_mm.compat` installed right before ``mmseg`` or ``mmpretrain``
  is imported (and the safe checkpoint loader once mmengine's checkpoint
  module is);
* every module of anaus_mm is registered into the existing ``mmpretrain``
  and ``mmseg`` registries the first time one of them is searched
  (mmengine's lazy ``locations``).

Configs therefore still enable the plugin with::

    custom_imports = dict(imports=['anaus_mm'], allow_failed_imports=False)

and :func:`register_all_modules` registers everything at once. The
subpackages load on first use (``anaus_mm.models``, ...); the ultrasound
simulator ``anaus_mm.datasets.simulation`` needs only numpy, SciPy, OpenCV
and pymust.
"""
import importlib
from types import ModuleType

from .registry import install_import_hooks, register_all_modules
from .version import __version__

install_import_hooks()

__all__ = ['__version__', 'register_all_modules']

_SUBPACKAGES = frozenset({
    'apis', 'benchmark', 'compat', 'datasets', 'engine', 'evaluation',
    'models', 'registry', 'utils', 'version'
})


def __getattr__(name: str) -> ModuleType:
    """``anaus_mm.<subpackage>`` without importing it first (PEP 562)."""
    if name in _SUBPACKAGES:
        return importlib.import_module(f'{__name__}.{name}')
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
