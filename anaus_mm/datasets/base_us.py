"""Common base classes of the ultrasound datasets.

Subclasses only say where the files are (:meth:`find_samples`); the bases
validate them at build time (see :mod:`anaus_mm.datasets.utils`), expose the
grouping used by :class:`~anaus_mm.datasets.GroupKFoldDataset`
(:meth:`get_group`, from each sample's ``group_id``) and the stratum used to
balance the folds (``gt_label`` for classification, ``stratum`` for
segmentation when the dataset has one).
"""
import os.path as osp
from typing import Any, Hashable, Iterable, List, Optional, Sequence, Union

from mmpretrain.datasets import BaseDataset as ClsBaseDataset
from mmseg.datasets import BaseSegDataset

from .utils import (DatasetNotFoundError, check_label_values, check_level,
                    check_pairs, log)


class GroupedMixin:
    """``get_group(idx)`` and ``get_stratum(idx)`` from the data infos."""

    def get_group(self, idx: int) -> Hashable:
        """Group id of sample ``idx`` (patient, video or image id).

        Args:
            idx (int): The sample's index.

        Returns:
            Hashable: Its ``group_id``, else its ``img_path``.
        """
        info = self.get_data_info(idx)
        return info.get('group_id', info.get('img_path'))

    def get_stratum(self, idx: int) -> Optional[Hashable]:
        """Class used to stratify folds, or None.

        Args:
            idx (int): The sample's index.

        Returns:
            Hashable, optional: Its ``gt_label``, else its ``stratum``, else
            None.
        """
        info = self.get_data_info(idx)
        return info.get('gt_label', info.get('stratum'))

    @property
    def _name(self):
        return f'{type(self).__name__}({self.data_root})'

    def _checked_samples(self):
        """``find_samples()`` of an existing data root, files checked."""
        if not self.data_root or not osp.isdir(self.data_root):
            raise DatasetNotFoundError(
                f'{self._name}: data_root folder not found: {self.data_root}')
        samples = self.find_samples()
        if not samples:
            raise DatasetNotFoundError(f'{self._name}: no samples found')
        if self.check_files:
            check_pairs(samples, self._name, self.check_files)
        return samples


class USSegDataset(GroupedMixin, BaseSegDataset):
    """Base of the segmentation datasets.

    Args:
        data_root (str): the dataset's folder, in its public layout.
        check_files (bool | str): validate the files at build time:
            ``True``/'header' reads every image and mask header (existence,
            sizes, PNG integrity) and the label values of label-map masks;
            'full' also decodes every image (truncated JPEGs); 'fast' checks
            only existence and sizes; ``False`` skips the checks.
        **kwargs: see :class:`mmseg.datasets.BaseSegDataset`.

    Class attributes:
        MASK_MODE: 'binary' (masks binarised, possibly several per image) or
            'label' (masks hold class ids).
    """

    MASK_MODE = 'binary'

    def __init__(self,
                 data_root: str = '',
                 check_files: Union[bool, str] = True,
                 **kwargs: Any) -> None:
        self.check_files = check_level(check_files)
        kwargs.setdefault('img_suffix', '')
        kwargs.setdefault('seg_map_suffix', '')
        super().__init__(data_root=data_root, **kwargs)

    def find_samples(self) -> List[dict]:
        """List ``dict(img_path, seg_map_path, group_id, ...)`` samples.

        Returns:
            List[dict]: One dict per image.
        """
        raise NotImplementedError

    def load_data_list(self) -> List[dict]:
        """The checked samples, with the keys mmseg's pipeline expects.

        Returns:
            List[dict]: The data infos.
        """
        samples = self._checked_samples()
        if self.check_files and self.MASK_MODE == 'label' and \
                self.check_files != 'fast':
            check_label_values(samples, self.allowed_label_values(),
                               self._name)
        for s in samples:
            s.setdefault('label_map', self.label_map)
            s['reduce_zero_label'] = self.reduce_zero_label
            s['seg_fields'] = []
            s['mask_mode'] = self.MASK_MODE
        return samples

    def allowed_label_values(self) -> Iterable[int]:
        """Ids a label-map mask may contain (default: 0..C-1).

        Returns:
            Iterable[int]: The accepted label ids.
        """
        return range(len(self.metainfo['classes']))


class USClsDataset(GroupedMixin, ClsBaseDataset):
    """Base of the classification datasets (mmpretrain).

    Args:
        data_root (str): the dataset's folder, in its public layout.
        check_files (bool | str): check every image at build time
            (see :class:`USSegDataset`).
        **kwargs: see :class:`mmpretrain.datasets.BaseDataset`.
    """

    def __init__(self,
                 data_root: str = '',
                 check_files: Union[bool, str] = True,
                 **kwargs: Any) -> None:
        self.check_files = check_level(check_files)
        kwargs.setdefault('ann_file', '')
        super().__init__(data_root=data_root, **kwargs)

    def find_samples(self) -> List[dict]:
        """List ``dict(img_path, gt_label, group_id)`` samples.

        Returns:
            List[dict]: One dict per image.
        """
        raise NotImplementedError

    def load_data_list(self) -> List[dict]:
        """The checked samples; logs the number of images per class.

        Returns:
            List[dict]: The data infos.
        """
        samples = self._checked_samples()
        counts = {}
        for s in samples:
            counts[s['gt_label']] = counts.get(s['gt_label'], 0) + 1
        log(f'{self._name}: {len(samples)} images, per class ' + ', '.join(
            f'{c}: {counts.get(i, 0)}' for i, c in enumerate(self.CLASSES)))
        return samples


class PairedFolderSegDataset(USSegDataset):
    """Images in one folder, masks of the same stem in another.

    Args:
        img_dir (str): image folder, relative to ``data_root``.
        mask_dir (str): mask folder, relative to ``data_root``.
        group_regex (str, optional): regex on the file name whose first
            group is the group id (patient); default: each image alone.
        names (list[str], optional): keep only these image file names.
        **kwargs: see :class:`USSegDataset`.

    A mask has the image's stem and any image extension (case-insensitive).
    Images without a mask and masks without an image are build-time errors.
    """

    def __init__(self,
                 img_dir: str,
                 mask_dir: str,
                 group_regex: Optional[str] = None,
                 names: Optional[Sequence[str]] = None,
                 **kwargs: Any) -> None:
        self.img_dir = img_dir
        self.mask_dir = mask_dir
        self.group_regex = group_regex
        self.names = names
        super().__init__(**kwargs)

    def _pairs(self, img_dir, mask_dir, names=None, group_prefix=''):
        from .utils import (DatasetLayoutError, group_from_name, list_files,
                            raise_if_problems, require_dir)
        img_root = osp.join(self.data_root, img_dir)
        mask_root = osp.join(self.data_root, mask_dir)
        require_dir(img_root, f'{self._name} images')
        require_dir(mask_root, f'{self._name} masks')
        images = list_files(img_root)
        masks = {osp.splitext(m)[0].lower(): m for m in list_files(mask_root)}
        if names is not None:
            wanted = set(names)
            images = [i for i in images if i in wanted]
        problems, samples, used = [], [], set()
        for name in images:
            stem = osp.splitext(name)[0].lower()
            if stem not in masks:
                problems.append(f'no mask for image {osp.join(img_root, name)}'
                                f' in {mask_root}')
                continue
            used.add(stem)
            samples.append(dict(
                img_path=osp.join(img_root, name),
                seg_map_path=osp.join(mask_root, masks[stem]),
                group_id=group_prefix + group_from_name(name,
                                                        self.group_regex)))
        if names is None:
            problems += [f'mask without image: {osp.join(mask_root, m)}'
                         for s, m in masks.items() if s not in used]
        raise_if_problems(problems, self._name, DatasetLayoutError)
        return samples

    def find_samples(self) -> List[dict]:
        """Pair each image of ``img_dir`` with its mask in ``mask_dir``.

        Returns:
            List[dict]: ``dict(img_path, seg_map_path, group_id)`` samples.
        """
        return self._pairs(self.img_dir, self.mask_dir, self.names)
