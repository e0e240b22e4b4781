"""TN3K: 3,493 thyroid-nodule ultrasound images from 2,421 patients (Gong
et al., "Thyroid region prior guided attention for ultrasound segmentation
of thyroid nodules", Computers in Biology and Medicine 155, 2023,
https://doi.org/10.1016/j.compbiomed.2022.106389; data and splits:
https://github.com/haifangong/TRFE-Net-for-thyroid-nodule-segmentation).

Public layout::

    tn3k/
        trainval-image/  0000.jpg ...   trainval-mask/  0000.jpg ...
        test-image/      0000.jpg ...   test-mask/      0000.jpg ...
        tn3k-trainval-fold0.json ... fold4.json
            ({"train": [i, ...], "val": [i, ...]})

Masks are JPEGs (values near 0 / 255: they are binarised at load time). The
fold files index the trainval images in numeric order of their names. The
release publishes no patient ids, so each image is its own group.
"""
import json
import os.path as osp
from typing import Any, List, Optional

from mmseg.registry import DATASETS

from .base_us import PairedFolderSegDataset
from .utils import (DatasetLayoutError, DatasetNotFoundError, list_files,
                    natural_key)


@DATASETS.register_module()
class TN3KDataset(PairedFolderSegDataset):
    """TN3K thyroid-nodule segmentation (background / nodule).

    Args:
        data_root (str): the ``tn3k`` folder.
        split (str): 'all' (trainval + test, for our own cross-validation),
            'trainval' or 'test'.
        fold (int, optional): use the published ``tn3k-trainval-fold{fold}
            .json`` (trainval images only) ...
        fold_subset (str): ... its 'train' or 'val' list.
        **kwargs: see :class:`~anaus_mm.datasets.base_us.USSegDataset`.
    """

    METAINFO = dict(classes=('background', 'nodule'),
                    palette=[[0, 0, 0], [255, 64, 64]])

    def __init__(self,
                 split: str = 'all',
                 fold: Optional[int] = None,
                 fold_subset: str = 'train',
                 **kwargs: Any) -> None:
        assert split in ('all', 'trainval', 'test'), split
        assert fold_subset in ('train', 'val'), fold_subset
        self.split = split
        self.fold = fold
        self.fold_subset = fold_subset
        super().__init__(img_dir='trainval-image', mask_dir='trainval-mask',
                         **kwargs)

    def _fold_names(self):
        path = osp.join(self.data_root, f'tn3k-trainval-fold{self.fold}.json')
        if not osp.isfile(path):
            raise DatasetNotFoundError(f'{self._name}: fold file not found: '
                                       f'{path}')
        with open(path) as f:
            ids = json.load(f)[self.fold_subset]
        names = sorted(list_files(osp.join(self.data_root, 'trainval-image')),
                       key=natural_key)
        bad = [i for i in ids if not 0 <= int(i) < len(names)]
        if bad:
            raise DatasetLayoutError(
                f'{self._name}: {path} indexes {len(bad)} images that do not '
                f'exist (first: {bad[:10]}; {len(names)} trainval images)')
        return [names[int(i)] for i in ids]

    def find_samples(self) -> List[dict]:
        """The pairs of a published fold list, else of the split(s).

        Returns:
            List[dict]: ``dict(img_path, seg_map_path, group_id)`` samples;
            group ids are prefixed with the split.
        """
        if self.fold is not None:
            return self._pairs('trainval-image', 'trainval-mask',
                               self._fold_names(), 'trainval/')
        samples = []
        for part in (('trainval', 'test') if self.split == 'all'
                     else (self.split, )):
            samples += self._pairs(f'{part}-image', f'{part}-mask',
                                   group_prefix=f'{part}/')
        return samples
