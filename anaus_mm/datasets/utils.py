"""Shared helpers of the dataset classes: layout errors, file listing and
build-time checks of image / mask pairs.

Every dataset of :mod:`anaus_mm.datasets` validates its files when it is
built (not mid-training) and reports *all* problems at once through
:class:`DatasetLayoutError`: the first ten offending files and the total.
"""
import os
import os.path as osp
import re
from typing import (Callable, Iterable, List, Optional, Sequence, Tuple,
                    Type, Union)

import numpy as np
from mmengine.logging import print_log

from ..utils.errors import AnausError

IMG_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff')
MAX_LISTED = 10


class DatasetLayoutError(AnausError, ValueError):
    """A dataset folder does not match the layout its class expects."""


class DatasetNotFoundError(DatasetLayoutError, FileNotFoundError):
    """A folder or file a dataset needs does not exist (or is empty)."""


def format_problems(problems: Sequence[str], what: str) -> str:
    """One message listing the first ten problems and their total count.

    Args:
        problems (Sequence[str]): One line per problem.
        what (str): What was checked (the dataset's name), put first.

    Returns:
        str: The message.
    """
    shown = '\n  '.join(problems[:MAX_LISTED])
    more = (f'\n  ... and {len(problems) - MAX_LISTED} more'
            if len(problems) > MAX_LISTED else '')
    return f'{what}: {len(problems)} problem(s):\n  {shown}{more}'


def raise_if_problems(
        problems: Sequence[str],
        what: str,
        error: Type[Exception] = DatasetLayoutError) -> None:
    """Raise ``error`` with :func:`format_problems` if ``problems``.

    Args:
        problems (Sequence[str]): One line per problem; nothing is raised
            if empty.
        what (str): What was checked (the dataset's name).
        error (Type[Exception]): The exception class to raise.
            Defaults to :class:`DatasetLayoutError`.
    """
    if problems:
        raise error(format_problems(problems, what))


def log(msg: str) -> None:
    """Log through the current mmengine logger (falls back to print).

    Args:
        msg (str): The message.
    """
    print_log(msg, logger='current')


def require_dir(path: Optional[str], what: str) -> str:
    """Raise :class:`DatasetNotFoundError` if ``path`` is not a folder.

    Args:
        path (str, optional): The folder.
        what (str): The dataset's name, used in the error message.

    Returns:
        str: ``path`` unchanged.
    """
    if not path or not osp.isdir(path):
        raise DatasetNotFoundError(f'{what}: folder not found: {path}')
    return path


def natural_key(text: str) -> List[Union[int, str]]:
    """Sort key treating digit runs as numbers ('b (10)' after 'b (9)').

    Args:
        text (str): The string to sort.

    Returns:
        List[Union[int, str]]: Alternating lower-cased text and integers.
    """
    return [int(t) if t.isdigit() else t.lower()
            for t in re.split(r'(\d+)', text)]


def list_files(folder: str,
               exts: Iterable[str] = IMG_EXTENSIONS,
               recursive: bool = False) -> List[str]:
    """Relative paths of the files in ``folder`` ending with one of ``exts``
    (case-insensitive), in natural order.

    Args:
        folder (str): The folder to list.
        exts (Iterable[str]): Accepted suffixes. Defaults to
            ``IMG_EXTENSIONS``.
        recursive (bool): Walk sub-folders too (following links).
            Defaults to False.

    Returns:
        List[str]: Paths relative to ``folder``; hidden files are skipped.
    """
    exts = tuple(e.lower() for e in exts)
    found = []
    if recursive:
        for root, dirs, files in os.walk(folder, followlinks=True):
            dirs.sort()
            for name in files:
                if name.lower().endswith(exts) and not name.startswith('.'):
                    found.append(osp.relpath(osp.join(root, name), folder))
    else:
        found = [n for n in os.listdir(folder)
                 if n.lower().endswith(exts) and not n.startswith('.')
                 and osp.isfile(osp.join(folder, n))]
    return sorted(found, key=natural_key)


CHECK_LEVELS = ('fast', 'header', 'full')


def check_level(check_files: Union[bool, str, None]) -> Optional[str]:
    """Normalise a ``check_files`` flag: True -> 'header', False -> None.

    Args:
        check_files (bool | str | None): A bool or one of ``CHECK_LEVELS``.

    Returns:
        str, optional: 'fast', 'header', 'full' or None (no check).
    """
    if check_files is True:
        return 'header'
    if not check_files:
        return None
    if check_files not in CHECK_LEVELS:
        raise ValueError(f'check_files must be a bool or one of '
                         f'{CHECK_LEVELS}, got {check_files!r}')
    return check_files


def image_size(path: str, level: Optional[str] = 'header') -> Tuple[int, int]:
    """``(width, height)`` of an image file, checking it to ``level``.

    * 'fast': the header only (PIL opens lazily);
    * 'header': plus ``Image.verify()``, which walks a PNG's chunks and CRCs
      and so catches truncated or corrupt PNGs (JPEG: header only);
    * 'full': decode every pixel (catches truncated JPEGs too; slower).

    NIfTI and MetaImage are read with :mod:`anaus_mm.datasets.medical_io`
    (header for 'fast'/'header', all voxels for 'full').

    Args:
        path (str): The image file.
        level (str, optional): 'fast', 'header' or 'full'.
            Defaults to 'header'.

    Returns:
        Tuple[int, int]: ``(width, height)``.

    Raises:
        OSError | ValueError: For unreadable files.
    """
    from .medical_io import is_medical, read_medical, read_medical_header
    if is_medical(path):
        size = read_medical_header(path)['size']
        if level == 'full':
            read_medical(path)
        return size
    from PIL import Image
    with Image.open(path) as im:
        size = im.size
        if level == 'full':
            im.load()
        elif level == 'header':
            im.verify()
    return size


def check_pairs(samples: Sequence[dict],
                what: str,
                level: Optional[str] = 'header') -> None:
    """Check that every image and mask of ``samples`` exists, is readable and
    that each mask has its image's size.

    Args:
        samples (list[dict]): with ``img_path`` and ``seg_map_path`` (a path
            or a list of paths).
        what (str): the dataset's name, used in the error message.
        level (str): 'fast', 'header' or 'full' (see :func:`image_size`).

    Raises:
        DatasetLayoutError: listing the first ten problems and the total.
    """
    problems = []
    for s in samples:
        try:
            size = image_size(s['img_path'], level)
        except FileNotFoundError:
            problems.append(f'image not found: {s["img_path"]}')
            continue
        except Exception as e:  # noqa: BLE001  (any decoder error)
            problems.append(f'unreadable image {s["img_path"]}: '
                            f'{type(e).__name__}: {e}')
            continue
        masks = s.get('seg_map_path')
        for m in ([masks] if isinstance(masks, str) else masks or []):
            try:
                msize = image_size(m, level)
            except FileNotFoundError:
                problems.append(f'mask not found for {s["img_path"]}: {m}')
                continue
            except Exception as e:  # noqa: BLE001
                problems.append(f'unreadable mask {m}: '
                                f'{type(e).__name__}: {e}')
                continue
            if tuple(msize) != tuple(size):
                problems.append(f'mask {m} is {msize[0]}x{msize[1]} but its '
                                f'image {s["img_path"]} is '
                                f'{size[0]}x{size[1]}')
    raise_if_problems(problems, what)


def check_label_values(
        samples: Sequence[dict],
        allowed: Iterable[int],
        what: str,
        reader: Optional[Callable[[str], np.ndarray]] = None) -> None:
    """Check that every label map holds only ids in ``allowed``.

    Decodes each mask (cheap for label PNGs).

    Args:
        samples (Sequence[dict]): With ``seg_map_path`` (one path).
        allowed (Iterable[int]): The accepted label ids.
        what (str): The dataset's name, used in the error message.
        reader (Callable[[str], np.ndarray], optional): Reads a label map.
            Defaults to :func:`anaus_mm.datasets.medical_io.read_any`.

    Raises:
        DatasetLayoutError: Listing the offending files and values.
    """
    from .medical_io import read_any
    reader = reader or read_any
    allowed = np.asarray(sorted(allowed))
    problems = []
    for s in samples:
        path = s['seg_map_path']
        values = np.unique(reader(path))
        bad = np.setdiff1d(values, allowed)
        if bad.size:
            problems.append(f'{path}: label values {bad.tolist()[:8]} are not '
                            f'classes of the dataset (allowed '
                            f'{allowed.tolist()})')
    raise_if_problems(problems, what)


def group_from_name(name: str, pattern: Optional[str]) -> str:
    """Group id of a file name: the first capture group of ``pattern``
    (searched in the name without folder), else the name's stem.

    Args:
        name (str): A file name or path.
        pattern (str, optional): A regular expression; without a capture
            group its whole match is the group.

    Returns:
        str: The group id.
    """
    stem = osp.splitext(osp.basename(name))[0]
    if pattern:
        match = re.search(pattern, osp.basename(name))
        if match:
            return match.group(1) if match.groups() else match.group(0)
    return stem
