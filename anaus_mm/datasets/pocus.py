"""POCUS: lung point-of-care ultrasound, COVID-19 / bacterial pneumonia /
regular (Born et al., "Accelerating detection of lung pathologies with
explainable ultrasound image analysis", Applied Sciences 11(2), 2021,
https://doi.org/10.3390/app11020672; data and scripts:
https://github.com/jannisborn/covid19_ultrasound).

The repository's ``build_image_dataset.py`` extracts frames of the videos
into class folders, and ``cross_val_splitter.py`` splits them by video into
five folders::

    data/image_dataset/{covid,pneumonia,regular}/<video>_frame<k>.jpg
    data/cross_validation/split0..4/{covid,pneumonia,regular}/...

``data_root`` may be either (class folders directly, or ``split*`` folders
holding class folders). The group of a frame is its video, the name before
``_frame<k>``; still images (no ``_frame``) are their own group. Other class
folders (``uninformative``) are ignored and logged.
"""
import os
import os.path as osp
from typing import Any, List

from mmpretrain.registry import DATASETS

from .base_us import USClsDataset
from .utils import (DatasetNotFoundError, group_from_name, list_files, log,
                    natural_key)


@DATASETS.register_module()
class POCUSDataset(USClsDataset):
    """POCUS lung ultrasound classification.

    Args:
        data_root (str): ``image_dataset`` or ``cross_validation`` folder.
        group_regex (str): the video id is the first group of this regex on
            the file name.
        **kwargs: see :class:`~anaus_mm.datasets.base_us.USClsDataset`.
    """

    METAINFO = dict(classes=('covid', 'pneumonia', 'regular'))

    def __init__(self,
                 group_regex: str = r'^(.+)_frame\d+',
                 **kwargs: Any) -> None:
        self.group_regex = group_regex
        super().__init__(**kwargs)

    def _class_roots(self):
        subs = sorted((d for d in os.listdir(self.data_root)
                       if osp.isdir(osp.join(self.data_root, d))),
                      key=natural_key)
        splits = [d for d in subs if d.lower().startswith('split')]
        if splits:
            return [(osp.join(self.data_root, s), s) for s in splits]
        return [(self.data_root, None)]

    def find_samples(self) -> List[dict]:
        """Every frame of the class folders (of every ``split*`` folder).

        Returns:
            List[dict]: ``dict(img_path, gt_label, group_id)`` samples, with
            ``published_split`` when read from ``cross_validation``.

        Raises:
            DatasetNotFoundError: If no class folder holds an image.
        """
        classes = [c.lower() for c in self.CLASSES]
        samples, ignored = [], set()
        for root, split in self._class_roots():
            for d in sorted(os.listdir(root)):
                folder = osp.join(root, d)
                if not osp.isdir(folder):
                    continue
                if d.lower() not in classes:
                    ignored.add(d)
                    continue
                label = classes.index(d.lower())
                for name in list_files(folder, recursive=True):
                    info = dict(img_path=osp.join(folder, name),
                                gt_label=label,
                                group_id=group_from_name(name,
                                                         self.group_regex))
                    if split is not None:
                        info['published_split'] = split
                    samples.append(info)
        if not samples:
            raise DatasetNotFoundError(
                f'{self._name}: no images in class folders {classes}')
        if ignored:
            log(f'{self._name}: ignored folders {sorted(ignored)}')
        return samples
