"""Unlabelled ultrasound images for pre-training, optionally paired with
anatomy label maps (the output of LP-SAM mask generation).

::

    images/  a/b/scan_001.jpg  c/scan_002.png ...   (any depth)
    masks/   a/b/scan_001.png  c/scan_002.png ...   (same relative path, .png)

Without ``mask_dir`` it serves the built-in self-supervised baselines (BYOL,
DenseCL, ... through ``LoadImageFromFile`` + ``MultiView`` + ``PackInputs``).
With ``mask_dir`` every image must have its mask, of the same size (checked
at build time); ANAUS reads ``mask_path`` with its ``LoadAnatomyMask``.
"""
import os.path as osp
from typing import Any, List, Optional, Union

from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

from .base_us import GroupedMixin
from .utils import (IMG_EXTENSIONS, DatasetNotFoundError, check_level,
                    check_pairs, list_files, log, require_dir)


@DATASETS.register_module()
class USAnatomyDataset(GroupedMixin, BaseDataset):
    """Image folder (recursive) with an optional anatomy-mask folder.

    Args:
        data_root (str): root folder; ``img_dir`` / ``mask_dir`` are relative
            to it (or absolute).
        img_dir (str): image folder (recursive; png, jpg, jpeg, bmp, tif,
            tiff).
        mask_dir (str, optional): mask folder, matched by relative path with
            the extension replaced by ``.png``.
        check_files (bool | str): check readability and mask sizes at build
            time (True/'header': PIL header + verify; 'full': full decode;
            'fast': header only; False: only existence of the masks).
        **kwargs: see :class:`mmpretrain.datasets.BaseDataset`.

    Each data info is ``dict(img_path=..., mask_path=...)`` (``mask_path``
    only with masks).
    """

    METAINFO = dict(classes=None)

    def __init__(self,
                 data_root: str = '',
                 img_dir: str = '',
                 mask_dir: Optional[str] = None,
                 check_files: Union[bool, str] = True,
                 **kwargs: Any) -> None:
        self.img_dir = img_dir
        self.mask_dir = mask_dir
        self.check_files = check_level(check_files)
        kwargs.setdefault('ann_file', '')
        super().__init__(data_root=data_root, **kwargs)

    def _path(self, rel):
        return rel if osp.isabs(rel) else osp.join(self.data_root or '', rel)

    def load_data_list(self) -> List[dict]:
        """Every image under ``img_dir`` (and its mask), checked.

        Returns:
            List[dict]: ``dict(img_path[, mask_path])`` data infos.

        Raises:
            DatasetNotFoundError: If a folder is missing or holds no image.
            DatasetLayoutError: If a mask is missing or has the wrong size
                (or, with ``check_files``, a file is unreadable).
        """
        name = f'{type(self).__name__}({self.data_root})'
        img_root = require_dir(self._path(self.img_dir), f'{name} images')
        files = list_files(img_root, exts=IMG_EXTENSIONS, recursive=True)
        if not files:
            raise DatasetNotFoundError(f'{name}: no images in {img_root}')
        infos = [dict(img_path=osp.join(img_root, f)) for f in files]
        if self.mask_dir is not None:
            mask_root = require_dir(self._path(self.mask_dir),
                                    f'{name} masks')
            for info, f in zip(infos, files):
                info['mask_path'] = osp.join(mask_root,
                                             osp.splitext(f)[0] + '.png')
        if self.check_files or self.mask_dir is not None:
            pairs = [dict(img_path=i['img_path'],
                          seg_map_path=i.get('mask_path')) for i in infos]
            if self.check_files:
                check_pairs(pairs, name, self.check_files)
            else:
                missing = [p for p in pairs
                           if not osp.isfile(p['seg_map_path'])]
                check_pairs(missing, name, 'fast')
        log(f'{name}: {len(infos)} images'
            + (' with anatomy masks' if self.mask_dir is not None else ''))
        return infos
