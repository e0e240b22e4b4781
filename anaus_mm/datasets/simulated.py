"""Datasets over the output of the ultrasound simulator
(:mod:`anaus_mm.datasets.simulation`), the end-to-end stand-in for real
data::

    data/
        images/<name>.png   uint8 grayscale B-mode image
        masks/<name>.png    uint8 anatomy ids
        labels.csv          filename,label,label_id,...  (benign / malignant)
        meta.json           {"classes": [...], "class_ids": {name: id},
                             "palette": [...], ...}

Each simulated image is an independent "patient": its own group.
"""
import csv
import json
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence

from mmpretrain.registry import DATASETS as CLS_DATASETS
from mmseg.registry import DATASETS as SEG_DATASETS

from .base_us import USClsDataset, USSegDataset
from .utils import (DatasetLayoutError, DatasetNotFoundError, list_files,
                    raise_if_problems, require_dir)


def read_meta(data_root: Optional[str], what: str) -> dict:
    """``meta.json`` of a simulated set as a dict.

    Args:
        data_root (str, optional): The simulator's output folder.
        what (str): The dataset's name, used in error messages.

    Returns:
        dict: The meta information, with ``classes`` as a list and ``ids``
        (the mask id of every class) filled in.

    Raises:
        DatasetNotFoundError: If ``meta.json`` is missing.
        DatasetLayoutError: If it cannot be parsed.
    """
    path = osp.join(data_root or '', 'meta.json')
    if not osp.isfile(path):
        raise DatasetNotFoundError(f'{what}: meta.json not found: {path}')
    try:
        with open(path) as f:
            meta = json.load(f)
        meta['classes'] = list(meta['classes'])
    except (ValueError, KeyError, TypeError) as e:
        raise DatasetLayoutError(f'{what}: bad meta.json {path}: {e}') from e
    if 'ids' not in meta:  # the simulator writes class_ids {name: id}
        class_ids = meta.get('class_ids') or {}
        meta['ids'] = [int(class_ids.get(c, i))
                       for i, c in enumerate(meta['classes'])]
    return meta


def read_labels(data_root: str, what: str) -> List[Dict[str, str]]:
    """Rows of ``labels.csv`` (dicts) of a simulated set.

    Args:
        data_root (str): The simulator's output folder.
        what (str): The dataset's name, used in error messages.

    Returns:
        List[Dict[str, str]]: One dict per row, keyed by column.

    Raises:
        DatasetNotFoundError: If ``labels.csv`` is missing.
        DatasetLayoutError: If it has no ``filename`` column.
    """
    path = osp.join(data_root, 'labels.csv')
    if not osp.isfile(path):
        raise DatasetNotFoundError(f'{what}: labels.csv not found: {path}')
    with open(path, newline='') as f:
        rows = list(csv.DictReader(f))
    if rows and 'filename' not in rows[0]:
        raise DatasetLayoutError(f'{what}: {path} has no "filename" column')
    return rows


@SEG_DATASETS.register_module()
class SimulatedUSDataset(USSegDataset):
    """Segmentation of simulated images.

    Args:
        data_root (str): the simulator's output folder.
        task (str): 'anatomy' (classes and palette from ``meta.json``; mask
            ids are mapped to class indices) or 'lesion' (background /
            lesion: the id of ``lesion_class`` becomes 1, everything else 0,
            through the sample's ``label_map``).
        lesion_class (str): name of the lesion class in ``meta.json``.
        metainfo (dict, optional): extra meta information (the classes and
            palette of 'anatomy' come from ``meta.json``).
        **kwargs: see :class:`~anaus_mm.datasets.base_us.USSegDataset`.
    """

    METAINFO = dict(classes=('background', 'lesion'),
                    palette=[[0, 0, 0], [255, 64, 64]])
    MASK_MODE = 'label'

    def __init__(self,
                 data_root: str = '',
                 task: str = 'anatomy',
                 lesion_class: str = 'lesion',
                 metainfo: Optional[dict] = None,
                 **kwargs: Any) -> None:
        assert task in ('anatomy', 'lesion'), task
        self.task = task
        self.lesion_class = lesion_class
        name = f'{type(self).__name__}({data_root})'
        self.sim_meta = read_meta(data_root, name)
        ids = [int(i) for i in self.sim_meta['ids']]
        if task == 'anatomy':
            classes = tuple(self.sim_meta['classes'])
            metainfo = dict(classes=classes, **(metainfo or {}))
            if 'palette' in self.sim_meta:
                metainfo.setdefault(
                    'palette', [list(p) for p in self.sim_meta['palette']])
            self._sample_label_map = {i: k for k, i in enumerate(ids)}
        else:
            if lesion_class not in self.sim_meta['classes']:
                raise DatasetLayoutError(
                    f'{name}: no class "{lesion_class}" in meta.json classes '
                    f'{self.sim_meta["classes"]}')
            lesion_id = ids[self.sim_meta['classes'].index(lesion_class)]
            self._sample_label_map = {i: int(i == lesion_id) for i in ids}
        if all(k == v for k, v in self._sample_label_map.items()):
            self._sample_label_map = None
        super().__init__(data_root=data_root, metainfo=metainfo, **kwargs)

    @classmethod
    def get_label_map(cls,
                      new_classes: Optional[Sequence] = None) -> None:
        """No dataset-wide label map: each sample carries its own.

        Args:
            new_classes (Sequence, optional): Ignored.

        Returns:
            None: Always.
        """
        return None  # classes come from meta.json; see _sample_label_map

    def allowed_label_values(self) -> List[int]:
        """The mask ids of ``meta.json``'s classes.

        Returns:
            List[int]: The accepted mask values.
        """
        return [int(i) for i in self.sim_meta['ids']]

    def find_samples(self) -> List[dict]:
        """Every PNG of ``images/`` with the mask of the same name.

        Returns:
            List[dict]: ``dict(img_path, seg_map_path, label_map, group_id)``
            samples.
        """
        img_root = require_dir(osp.join(self.data_root, 'images'),
                               f'{self._name} images')
        mask_root = require_dir(osp.join(self.data_root, 'masks'),
                                f'{self._name} masks')
        samples = []
        for name in list_files(img_root, exts=('.png', )):
            samples.append(dict(
                img_path=osp.join(img_root, name),
                seg_map_path=osp.join(mask_root, name),
                label_map=self._sample_label_map,
                group_id=osp.splitext(name)[0]))
        return samples


@CLS_DATASETS.register_module()
class SimulatedUSClsDataset(USClsDataset):
    """Benign / malignant classification of simulated images
    (``labels.csv``: ``filename,label,label_id``)."""

    METAINFO = dict(classes=('benign', 'malignant'))

    def find_samples(self) -> List[dict]:
        """The images listed in ``labels.csv`` with their class.

        Returns:
            List[dict]: ``dict(img_path, gt_label, group_id)`` samples.

        Raises:
            DatasetLayoutError: If a row's label is not a class.
        """
        img_root = require_dir(osp.join(self.data_root, 'images'),
                               f'{self._name} images')
        classes = list(self.CLASSES)
        samples, problems = [], []
        for row in read_labels(self.data_root, self._name):
            label = row.get('label')
            if label not in classes:
                problems.append(f'{row["filename"]}: label "{label}" is not '
                                f'one of {classes}')
                continue
            name = osp.basename(row['filename'])
            samples.append(dict(img_path=osp.join(img_root, name),
                                gt_label=classes.index(label),
                                group_id=osp.splitext(name)[0]))
        raise_if_problems(problems, self._name)
        return samples
