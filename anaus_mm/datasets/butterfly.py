"""Butterfly: ultrasound views from the Butterfly Network dataset of the MIT
Grand Hack 2018 (https://github.com/ButterflyNetwork/MITGrandHack2018), as
used for ultrasound pre-training benchmarks (e.g. USCL, Chen et al., MICCAI
2021, https://arxiv.org/abs/2107.04727)::

    butterfly_dataset/
        training/<class>/<patient>_<...>.png
        test/<class>/...

with nine classes (folders): 2ch, 4ch, bladder, carotid, ivc, lungs,
morisons_pouch, plax, thyroid. The group of an image is its patient, the
leading token before the first ``_`` (``group_regex``); frames of one
patient never straddle folds. A class folder not in ``METAINFO`` is an error.
"""
import os
import os.path as osp
from typing import Any, List

from mmpretrain.registry import DATASETS

from .base_us import USClsDataset
from .utils import (DatasetLayoutError, group_from_name, list_files,
                    raise_if_problems, require_dir)


@DATASETS.register_module()
class ButterflyDataset(USClsDataset):
    """Butterfly view classification (class-per-folder release).

    Args:
        data_root (str): the ``butterfly_dataset`` folder.
        split (str): 'all' (training + test, for cross-validation),
            'training' or 'test'.
        group_regex (str): patient id from the file name.
        **kwargs: see :class:`~anaus_mm.datasets.base_us.USClsDataset`.
    """

    METAINFO = dict(classes=('2ch', '4ch', 'bladder', 'carotid', 'ivc',
                             'lungs', 'morisons_pouch', 'plax', 'thyroid'))

    def __init__(self,
                 split: str = 'all',
                 group_regex: str = r'^([^_]+)_',
                 **kwargs: Any) -> None:
        assert split in ('all', 'training', 'test'), split
        self.split = split
        self.group_regex = group_regex
        super().__init__(**kwargs)

    def find_samples(self) -> List[dict]:
        """Every image of the class folders of the selected split(s).

        Returns:
            List[dict]: ``dict(img_path, gt_label, group_id)`` samples.

        Raises:
            DatasetLayoutError: If a class folder is not in ``METAINFO``.
        """
        classes = list(self.CLASSES)
        parts = ('training', 'test') if self.split == 'all' else (self.split,)
        samples, problems = [], []
        for part in parts:
            root = osp.join(self.data_root, part)
            if self.split == 'all' and not osp.isdir(root):
                continue
            require_dir(root, f'{self._name} split')
            for d in sorted(os.listdir(root)):
                folder = osp.join(root, d)
                if not osp.isdir(folder):
                    continue
                if d not in classes:
                    problems.append(f'class folder "{d}" ({folder}) is not '
                                    f'one of {classes}')
                    continue
                for name in list_files(folder):
                    samples.append(dict(
                        img_path=osp.join(folder, name),
                        gt_label=classes.index(d),
                        group_id=group_from_name(name, self.group_regex)))
        raise_if_problems(problems, self._name, DatasetLayoutError)
        return samples
