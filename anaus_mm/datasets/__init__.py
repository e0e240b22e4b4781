"""Datasets and transforms, registered into the mmpretrain / mmseg registries.

Importing this package is cheap: the ultrasound simulator
(``anaus_mm.datasets.simulation``) is plain numpy and imports neither torch
nor OpenMMLab. The dataset classes and ``transforms`` are imported (and
registered) on first access, e.g. ``from anaus_mm.datasets import
BUSIDataset``, when an mmpretrain / mmseg registry is first searched, or by
:func:`anaus_mm.register_all_modules`.
"""
import importlib
from typing import Any, List

#: exported names → the submodule that defines them (imported on access)
_LAZY = {
    'transforms': None,  # the subpackage itself
    **{name: 'us_datasets' for name in (
        'BUSIDataset', 'BUSIClsDataset', 'ButterflyDataset', 'CAMUSDataset',
        'GroupKFoldDataset', 'group_kfold_split', 'HMCQUDataset',
        'POCUSDataset', 'SimulatedUSDataset', 'SimulatedUSClsDataset',
        'DDTIDataset', 'TG3KDataset', 'TN3KDataset', 'UDIATDataset',
        'USAnatomyDataset', 'DatasetLayoutError', 'DatasetNotFoundError')}
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    """Import an exported name's module on first access (PEP 562)."""
    if name not in _LAZY:
        raise AttributeError(
            f'module {__name__!r} has no attribute {name!r}')
    if _LAZY[name] is None:
        return importlib.import_module(f'{__name__}.{name}')
    module = importlib.import_module(f'{__name__}.{_LAZY[name]}')
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_LAZY))
