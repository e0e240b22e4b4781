"""HMC-QU: apical four-chamber echocardiography videos of Hamad Medical
Corporation / Qatar University, with left-ventricle *wall* masks for one
cardiac cycle of 109 A4C videos (Degerli et al., "Early detection of
myocardial infarction in low-quality echocardiography", IEEE Access 9,
2021, https://doi.org/10.1109/ACCESS.2021.3059595; download:
https://www.kaggle.com/datasets/aysendegerli/hmcqu-dataset).

Public layout::

    HMC-QU/A4C/ES0001 _4CH_1.avi ...
    LV Ground-truth Segmentation Masks/Mask_ES0001 _4CH_1.mat   ('predicted':
                                                  frames x H x W, 0 / 1)
    A4C.xlsx   columns "ECHO", "One cardiac-cycle frames" (first annotated
               frame, 1-based), "LV Wall Ground-truth Segmentation Masks"

Frames are extracted once into ``cache_dir`` as PNG pairs (frame resized to
its mask's size, mask saved 0 / 255), atomically and resumably; later builds
reuse them. The first annotated frame of each video comes from ``ann_file``
(``A4C.xlsx``, read with the standard library, or a CSV export of it); a
video missing from it starts at frame 1, which is logged. The group of a
frame is its patient, the ECHO id before the view suffix ("ES0001").
"""
import csv
import os
import os.path as osp
import re
import zipfile
from typing import Any, Dict, List, Optional
from xml.etree import ElementTree

import numpy as np
from mmseg.registry import DATASETS

from ..utils.io import atomic_write_image
from .base_us import USSegDataset
from .utils import (DatasetLayoutError, DatasetNotFoundError, list_files,
                    log, raise_if_problems)

START_COLUMN = 'One cardiac-cycle frames'
_NS = '{http://schemas.openxmlformats.org/spreadsheetml/2006/main}'


def read_xlsx_rows(path: str) -> List[List[str]]:
    """Rows (lists of str) of the first sheet of an .xlsx file.

    Args:
        path (str): the .xlsx file.

    Returns:
        List[List[str]]: the cell texts of each row ('' for empty cells).
    """
    with zipfile.ZipFile(path) as z:
        shared = []
        if 'xl/sharedStrings.xml' in z.namelist():
            root = ElementTree.fromstring(z.read('xl/sharedStrings.xml'))
            shared = [''.join(t.text or '' for t in si.iter(_NS + 't'))
                      for si in root.iter(_NS + 'si')]
        sheet = sorted(n for n in z.namelist()
                       if n.startswith('xl/worksheets/sheet'))[0]
        root = ElementTree.fromstring(z.read(sheet))
    rows = []
    for row in root.iter(_NS + 'row'):
        values = {}
        for c in row.iter(_NS + 'c'):
            col = 0
            for ch in re.match(r'[A-Z]+', c.get('r')).group(0):
                col = col * 26 + ord(ch) - 64
            v = c.find(_NS + 'v')
            text = v.text if v is not None else ''
            if c.get('t') == 's':
                text = shared[int(text)]
            elif c.get('t') == 'inlineStr':
                text = ''.join(t.text or '' for t in c.iter(_NS + 't'))
            values[col - 1] = text
        rows.append([values.get(i, '') for i in range(max(values, default=-1)
                                                       + 1)])
    return rows


def read_start_frames(path: str) -> Dict[str, int]:
    """``{echo id: first annotated frame (1-based)}`` from A4C.xlsx / CSV.

    Args:
        path (str): ``A4C.xlsx`` or a CSV export of it.

    Returns:
        Dict[str, int]: the first annotated frame of each echo.

    Raises:
        DatasetLayoutError: The columns ``ECHO`` or the start column are
            missing.
    """
    if path.lower().endswith('.xlsx'):
        rows = read_xlsx_rows(path)
    else:
        with open(path, newline='') as f:
            rows = list(csv.reader(f))
    if not rows:
        return {}
    head = [h.strip() for h in rows[0]]
    if 'ECHO' not in head or START_COLUMN not in head:
        raise DatasetLayoutError(f'{path}: needs columns "ECHO" and '
                                 f'"{START_COLUMN}", found {head}')
    e, s = head.index('ECHO'), head.index(START_COLUMN)
    starts = {}
    for r in rows[1:]:
        if len(r) > max(e, s) and r[e].strip() and r[s].strip():
            starts[r[e].strip()] = int(float(r[s]))
    return starts


def _read_frames(path):
    import cv2
    cap = cv2.VideoCapture(path)
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
    cap.release()
    return frames


@DATASETS.register_module()
class HMCQUDataset(USSegDataset):
    """HMC-QU left-ventricle wall segmentation (background / lv_wall).

    Args:
        data_root (str): the release folder (holding ``HMC-QU/A4C`` and
            ``LV Ground-truth Segmentation Masks``).
        video_dir (str): A4C videos under ``data_root``.
        mask_dir (str): ``.mat`` masks under ``data_root``.
        ann_file (str): ``A4C.xlsx`` (or a CSV export) under ``data_root``;
            '' or missing: every video starts at frame 1 (logged).
        cache_dir (str, optional): where extracted frames go (default
            ``<data_root>/.anaus_frames``).
        mat_key (str): variable of the masks in the ``.mat`` files.
        **kwargs: see :class:`~anaus_mm.datasets.base_us.USSegDataset`.
    """

    METAINFO = dict(classes=('background', 'lv_wall'),
                    palette=[[0, 0, 0], [255, 64, 64]])

    def __init__(self,
                 video_dir: str = 'HMC-QU/A4C',
                 mask_dir: str = 'LV Ground-truth Segmentation Masks',
                 ann_file: str = 'A4C.xlsx',
                 cache_dir: Optional[str] = None,
                 mat_key: str = 'predicted',
                 **kwargs: Any) -> None:
        self.video_dir = video_dir
        self.mask_dir = mask_dir
        self.cache_dir = cache_dir
        self.mat_key = mat_key
        super().__init__(ann_file=ann_file, **kwargs)

    def _cache_video(self, echo, video, mat, start, cache):
        """Extract the annotated frames of one video; returns the samples."""
        import cv2
        from scipy.io import loadmat
        out = osp.join(cache, echo)
        done = osp.join(out, 'done')
        if not osp.isfile(done):
            masks = loadmat(mat)
            if self.mat_key not in masks:
                raise DatasetLayoutError(f'{mat}: no variable '
                                         f'"{self.mat_key}"')
            masks = np.asarray(masks[self.mat_key])
            if masks.ndim == 2:
                masks = masks[None]
            frames = _read_frames(video)
            if not frames:
                raise DatasetLayoutError(f'unreadable video {video}')
            if start - 1 + len(masks) > len(frames):
                raise DatasetLayoutError(
                    f'{video}: {len(frames)} frames, but {len(masks)} masks '
                    f'from frame {start}')
            os.makedirs(out, exist_ok=True)
            for k, mask in enumerate(masks):
                h, w = mask.shape
                frame = cv2.resize(frames[start - 1 + k], (w, h),
                                   interpolation=cv2.INTER_AREA)
                atomic_write_image(osp.join(out, f'frame_{k:03d}.png'),
                                   frame)
                atomic_write_image(osp.join(out, f'frame_{k:03d}_mask.png'),
                                   ((mask > 0) * 255).astype(np.uint8))
            with open(done, 'w') as f:
                f.write(f'{len(masks)}\n')
        with open(done) as f:
            n = int(f.read())
        patient = re.split(r'[\s_]', echo.strip())[0]
        return [dict(img_path=osp.join(out, f'frame_{k:03d}.png'),
                     seg_map_path=osp.join(out, f'frame_{k:03d}_mask.png'),
                     group_id=patient, video_id=echo) for k in range(n)]

    def find_samples(self) -> List[dict]:
        """Extract (once, into the frame cache) and list the annotated
        frames of every video that has a mask file.

        Returns:
            List[dict]: ``dict(img_path, seg_map_path, group_id, video_id)``
            per frame.

        Raises:
            DatasetNotFoundError: The video or mask folder is missing.
            DatasetLayoutError: The frame cache cannot be created, or a
                video / mask file is unusable.
        """
        video_root = osp.join(self.data_root, self.video_dir)
        mask_root = osp.join(self.data_root, self.mask_dir)
        for folder, what in ((video_root, 'videos'), (mask_root, 'masks')):
            if not osp.isdir(folder):
                raise DatasetNotFoundError(f'{self._name}: {what} folder '
                                           f'not found: {folder}')
        starts = {}
        if self.ann_file and osp.isfile(self.ann_file):
            starts = read_start_frames(self.ann_file)
        cache = self.cache_dir or osp.join(self.data_root, '.anaus_frames')
        try:
            os.makedirs(cache, exist_ok=True)
        except OSError as e:
            raise DatasetLayoutError(
                f'{self._name}: cannot create the frame cache {cache} '
                f'({e.strerror}); set cache_dir to a writable folder') from e
        videos = {osp.splitext(v)[0]: v
                  for v in list_files(video_root, exts=('.avi', '.mp4'))}
        samples, problems, no_start = [], [], []
        for mat in list_files(mask_root, exts=('.mat', )):
            echo = osp.splitext(mat)[0]
            echo = echo[5:] if echo.startswith('Mask_') else echo
            if echo not in videos:
                problems.append(f'no video for mask {osp.join(mask_root, mat)}'
                                f' (expected {echo}.avi in {video_root})')
                continue
            if echo not in starts:
                no_start.append(echo)
            try:
                samples += self._cache_video(
                    echo, osp.join(video_root, videos[echo]),
                    osp.join(mask_root, mat), starts.get(echo, 1), cache)
            except (DatasetLayoutError, ValueError, OSError) as e:
                problems.append(str(e))
        raise_if_problems(problems, self._name, DatasetLayoutError)
        if no_start:
            log(f'{self._name}: {len(no_start)} videos have no start frame '
                f'in "{self.ann_file}" and start at frame 1 (e.g. '
                f'{no_start[0]})')
        log(f'{self._name}: {len(samples)} annotated frames of '
            f'{len({s["video_id"] for s in samples})} videos, cached in '
            f'{cache}')
        return samples
