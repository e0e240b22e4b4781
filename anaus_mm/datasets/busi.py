"""BUSI: Breast Ultrasound Images (Al-Dhabyani et al., Data in Brief 28,
2020, https://doi.org/10.1016/j.dib.2019.104863; download:
https://scholar.cu.edu.eg/?q=afahmy/pages/dataset).

Public layout (780 PNG images, 600 women)::

    Dataset_BUSI_with_GT/
        benign/     benign (1).png  benign (1)_mask.png  benign (4)_mask_1.png
        malignant/  malignant (1).png  malignant (1)_mask.png ...
        normal/     normal (1).png  normal (1)_mask.png  (masks are empty)

An image with several lesions has extra masks ``_mask_1.png``,
``_mask_2.png``, ...; they are merged by union at load time by
:class:`~anaus_mm.datasets.transforms.LoadMergedAnnotations` (every mask of an
image is in the sample's ``seg_map_path`` list). The release has no patient
ids, so each image is its own group for cross-validation.
"""
import os.path as osp
import re
from typing import Any, List, Sequence

from mmpretrain.registry import DATASETS as CLS_DATASETS
from mmseg.registry import DATASETS as SEG_DATASETS

from .base_us import USClsDataset, USSegDataset
from .utils import (DatasetLayoutError, list_files, log, raise_if_problems,
                    require_dir)

BUSI_CLASSES = ('normal', 'benign', 'malignant')
_MASK = re.compile(r'^(?P<stem>.+)_mask(?:_(?P<k>\d+))?$', re.IGNORECASE)


def busi_root(data_root: str) -> str:
    """``data_root`` itself or its ``Dataset_BUSI_with_GT`` sub-folder.

    Args:
        data_root (str): The folder given by the user.

    Returns:
        str: The folder holding the class folders.
    """
    sub = osp.join(data_root, 'Dataset_BUSI_with_GT')
    return sub if osp.isdir(sub) else data_root


def scan_busi(data_root: str,
              classes: Sequence[str],
              what: str,
              require_masks: bool = True) -> List[dict]:
    """Samples ``dict(img_path, seg_map_path, label, group_id)`` of the BUSI
    layout.

    Args:
        data_root (str): The BUSI folder (see :func:`busi_root`).
        classes (Sequence[str]): The class folders to read.
        what (str): The dataset's name, used in error messages.
        require_masks (bool): An image without a mask is an error.
            Defaults to True.

    Returns:
        List[dict]: One dict per image; ``seg_map_path`` lists its masks.

    Raises:
        DatasetLayoutError: If a mask has no image or (``require_masks``) an
            image has no mask.
    """
    root = busi_root(data_root)
    problems, samples = [], []
    for label in classes:
        folder = require_dir(osp.join(root, label), f'{what} class folder')
        files = list_files(folder, exts=('.png', ))
        images, masks = [], {}
        for name in files:
            stem = osp.splitext(name)[0]
            m = _MASK.match(stem)
            if m:
                masks.setdefault(m.group('stem'), []).append(
                    (int(m.group('k') or 0), name))
            else:
                images.append(name)
        for name in images:
            stem = osp.splitext(name)[0]
            found = sorted(masks.pop(stem, []))
            if not found and require_masks:
                problems.append(f'no mask for image {osp.join(folder, name)}'
                                f' (expected "{stem}_mask.png")')
                continue
            samples.append(dict(
                img_path=osp.join(folder, name),
                seg_map_path=[osp.join(folder, n) for _, n in found],
                label=label, group_id=f'{label}/{stem}'))
        problems += [f'mask without image: {osp.join(folder, n)}'
                     for group in masks.values() for _, n in group]
    raise_if_problems(problems, what, DatasetLayoutError)
    return samples


@SEG_DATASETS.register_module()
class BUSIDataset(USSegDataset):
    """BUSI lesion segmentation (background / lesion).

    Args:
        data_root (str): the folder holding ``Dataset_BUSI_with_GT`` (or that
            folder itself).
        include_normal (bool): keep the 133 ``normal`` images, whose masks
            are empty. Off by default (the usual protocol segments the 647
            benign and malignant images); skipped images are logged.
        **kwargs: see :class:`~anaus_mm.datasets.base_us.USSegDataset`.

    Each sample's ``stratum`` (benign / malignant) balances the folds of
    :class:`~anaus_mm.datasets.GroupKFoldDataset`.
    """

    METAINFO = dict(classes=('background', 'lesion'),
                    palette=[[0, 0, 0], [255, 64, 64]])

    def __init__(self, include_normal: bool = False, **kwargs: Any) -> None:
        self.include_normal = include_normal
        super().__init__(**kwargs)

    def find_samples(self) -> List[dict]:
        """The lesion images (and ``normal`` ones if asked) with their masks.

        Returns:
            List[dict]: ``dict(img_path, seg_map_path, group_id, stratum)``
            samples.
        """
        classes = BUSI_CLASSES if self.include_normal else BUSI_CLASSES[1:]
        samples = scan_busi(self.data_root, classes, self._name)
        if not self.include_normal:
            normal = osp.join(busi_root(self.data_root), 'normal')
            if osp.isdir(normal):
                n = sum(1 for f in list_files(normal, exts=('.png', ))
                        if '_mask' not in f)
                log(f'{self._name}: skipped {n} "normal" images (empty '
                    'masks); pass include_normal=True to keep them')
        n_multi = sum(len(s['seg_map_path']) > 1 for s in samples)
        if n_multi:
            log(f'{self._name}: {n_multi} images have several masks, merged '
                'by union')
        for s in samples:
            s['stratum'] = BUSI_CLASSES.index(s.pop('label'))
        return samples


@CLS_DATASETS.register_module()
class BUSIClsDataset(USClsDataset):
    """BUSI classification: normal / benign / malignant (masks unused).

    Args:
        data_root (str): the folder holding ``Dataset_BUSI_with_GT`` (or that
            folder itself).
        **kwargs: see :class:`~anaus_mm.datasets.base_us.USClsDataset`.
    """

    METAINFO = dict(classes=BUSI_CLASSES)

    def find_samples(self) -> List[dict]:
        """Every image of the three class folders.

        Returns:
            List[dict]: ``dict(img_path, gt_label, group_id)`` samples.
        """
        samples = scan_busi(self.data_root, BUSI_CLASSES, self._name,
                            require_masks=False)
        return [dict(img_path=s['img_path'],
                     gt_label=BUSI_CLASSES.index(s['label']),
                     group_id=s['group_id']) for s in samples]
