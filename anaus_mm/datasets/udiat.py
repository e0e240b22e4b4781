"""UDIAT Dataset B: 163 breast ultrasound images with lesion masks (Yap et
al., "Automated breast ultrasound lesions detection using convolutional
neural networks", IEEE JBHI 22(4), 2018,
https://doi.org/10.1109/JBHI.2017.2731873; obtained from the authors,
http://www2.docm.mmu.ac.uk/STAFF/m.yap/dataset.php).

Public layout::

    DatasetB/
        original/  000001.png ... 000163.png
        GT/        000001.png ... 000163.png   (0 = background, 255 = lesion)

No patient ids are published: every image is its own group.
"""
import os.path as osp
from typing import Any

from mmseg.registry import DATASETS

from .base_us import PairedFolderSegDataset


@DATASETS.register_module()
class UDIATDataset(PairedFolderSegDataset):
    """UDIAT Dataset B lesion segmentation (background / lesion).

    Args:
        data_root (str): the ``DatasetB`` folder (or its parent).
        img_dir (str): image folder under ``DatasetB``.
        mask_dir (str): mask folder under ``DatasetB``.
        **kwargs: see :class:`~anaus_mm.datasets.base_us.USSegDataset`.
    """

    METAINFO = dict(classes=('background', 'lesion'),
                    palette=[[0, 0, 0], [255, 64, 64]])

    def __init__(self,
                 data_root: str = '',
                 img_dir: str = 'original',
                 mask_dir: str = 'GT',
                 **kwargs: Any) -> None:
        if data_root and osp.isdir(osp.join(data_root, 'DatasetB')):
            data_root = osp.join(data_root, 'DatasetB')
        super().__init__(img_dir=img_dir, mask_dir=mask_dir,
                         data_root=data_root, **kwargs)
