"""Registers the ultrasound datasets (one import line in ``__init__``)."""
from .busi import BUSIClsDataset, BUSIDataset
from .butterfly import ButterflyDataset
from .camus import CAMUSDataset
from .group_kfold import GroupKFoldDataset, group_kfold_split
from .hmcqu import HMCQUDataset
from .pocus import POCUSDataset
from .simulated import SimulatedUSClsDataset, SimulatedUSDataset
from .thyroid import DDTIDataset, TG3KDataset
from .tn3k import TN3KDataset
from .udiat import UDIATDataset
from .us_anatomy import USAnatomyDataset
from .utils import DatasetLayoutError, DatasetNotFoundError

__all__ = [
    'BUSIDataset', 'BUSIClsDataset', 'ButterflyDataset', 'CAMUSDataset',
    'GroupKFoldDataset', 'group_kfold_split', 'HMCQUDataset', 'POCUSDataset',
    'SimulatedUSDataset', 'SimulatedUSClsDataset', 'DDTIDataset',
    'TG3KDataset', 'TN3KDataset', 'UDIATDataset', 'USAnatomyDataset',
    'DatasetLayoutError', 'DatasetNotFoundError'
]
