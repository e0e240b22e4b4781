"""Thyroid ultrasound datasets: DDTI and TG3K.

**DDTI** (Pedraza et al., "An open access thyroid ultrasound image
database", SPIE 9287, 2015, https://doi.org/10.1117/12.2073532; original
release http://cimalab.unal.edu.co/applications/thyroid/ ships JPEGs with
XML polygon outlines). We read the widely used mask version in the TN-SCUI
2020 format (Kaggle, dasmehdixtr/ddti-thyroid-ultrasound-images,
https://www.kaggle.com/datasets/dasmehdixtr/
ddti-thyroid-ultrasound-images)::

    DDTI/
        1_or_data/image/  1.PNG 2.PNG ...     1_or_data/mask/  1.PNG ...
        2_preprocessed_data/stage1/p_image/   .../stage1/p_mask/

``img_dir``/``mask_dir`` select the variant (default: the original-size
``1_or_data``). Names of the ``<case>_<image>`` form group by case (patient).

**TG3K** (3,585 thyroid-gland frames from 16 videos; Gong et al., ISBI 2021,
https://doi.org/10.1109/ISBI48211.2021.9434087; data in the TRFE-Net
repository, https://github.com/haifangong/
TRFE-Net-for-thyroid-nodule-segmentation)::

    tg3k/
        thyroid-image/  0000.jpg ...
        thyroid-mask/   0000.jpg ...   (JPEG masks, binarised at load time)
        tg3k-trainval.json             {"train": [...], "val": [...]}

The video of each frame is not published, so each frame is its own group
(folds of TG3K are therefore optimistic: neighbouring frames may land in
different folds; this is said in the log).
"""
from typing import Any, List

from mmseg.registry import DATASETS

from .base_us import PairedFolderSegDataset
from .utils import log


@DATASETS.register_module()
class DDTIDataset(PairedFolderSegDataset):
    """DDTI thyroid-nodule segmentation (background / nodule).

    Args:
        data_root (str): the ``DDTI`` folder.
        img_dir (str): image folder under ``data_root``.
        mask_dir (str): mask folder under ``data_root``.
        group_regex (str): case id from the file name (default: digits
            before the first ``_``; a name without one is its own group).
        **kwargs: see :class:`~anaus_mm.datasets.base_us.USSegDataset`.
    """

    METAINFO = dict(classes=('background', 'nodule'),
                    palette=[[0, 0, 0], [255, 64, 64]])

    def __init__(self,
                 img_dir: str = '1_or_data/image',
                 mask_dir: str = '1_or_data/mask',
                 group_regex: str = r'^(\d+)_',
                 **kwargs: Any) -> None:
        super().__init__(img_dir=img_dir, mask_dir=mask_dir,
                         group_regex=group_regex, **kwargs)


@DATASETS.register_module()
class TG3KDataset(PairedFolderSegDataset):
    """TG3K thyroid-gland segmentation (background / thyroid).

    Args:
        data_root (str): the ``tg3k`` folder.
        img_dir (str): image folder under ``data_root``.
        mask_dir (str): mask folder under ``data_root``.
        **kwargs: see :class:`~anaus_mm.datasets.base_us.USSegDataset`.
    """

    METAINFO = dict(classes=('background', 'thyroid'),
                    palette=[[0, 0, 0], [64, 200, 255]])

    def __init__(self,
                 img_dir: str = 'thyroid-image',
                 mask_dir: str = 'thyroid-mask',
                 **kwargs: Any) -> None:
        super().__init__(img_dir=img_dir, mask_dir=mask_dir, **kwargs)

    def find_samples(self) -> List[dict]:
        """The image / mask pairs; logs that each frame is its own group.

        Returns:
            List[dict]: ``dict(img_path, seg_map_path, group_id)`` samples.
        """
        samples = super().find_samples()
        log(f'{self._name}: TG3K publishes no video ids; each frame is its '
            'own cross-validation group')
        return samples
