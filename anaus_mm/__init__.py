"""anaus_mm: anatomy-anchored self-supervised pre-training for ultrasound.

Importing the package checks the OpenMMLab versions, installs the
compatibility fixes of :mod:`anaus_mm.compat` (before mmseg is imported) and
registers every module into the existing ``mmpretrain`` and ``mmseg``
registries. Configs enable it with::

    custom_imports = dict(imports=['anaus_mm'], allow_failed_imports=False)
"""
from .version import __version__
from .utils.version_check import check_dependencies

check_dependencies()

from . import compat  # noqa: E402

compat.install()

from . import datasets, engine, evaluation, models  # noqa: E402,F401

__all__ = ['__version__']
