"""Atomic file writes: a reader never sees a half-written file.

Every tool writes through these helpers: the data goes to a temp file in the
destination folder, which is then renamed over the destination
(``os.replace`` is atomic on POSIX). An interrupted run leaves no partial
file, only possibly a ``.<name>XXXXXXXX.tmp`` (``mkstemp``'s eight random
characters) that the next write ignores and :func:`leftover_temp_files`
finds.
"""
import os
import os.path as osp
import re
import tempfile
from typing import TYPE_CHECKING, Any, Dict, List

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.figure import Figure

__all__ = [
    'atomic_write_bytes', 'atomic_write_text', 'atomic_write_image',
    'atomic_write_figure', 'atomic_torch_save', 'leftover_temp_files'
]

#: a temp file of :func:`atomic_write_bytes`: ``.`` + destination name +
#: ``mkstemp``'s 8 random characters + ``.tmp``
_TEMP_NAME = re.compile(r'^\.(?P<name>.+)[a-z0-9_]{8}\.tmp$')


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to a temp file next to ``path``, then rename it.

    The file gets the usual permissions (``0o666`` minus the umask), not the
    private ``0o600`` of ``mkstemp``.

    Args:
        path (str): The destination; its folder is created if needed.
        data (bytes): The file's content.
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.' + osp.basename(path),
                               suffix='.tmp')
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def atomic_write_text(path: str, text: str) -> None:
    """:func:`atomic_write_bytes` of UTF-8 text.

    Args:
        path (str): The destination.
        text (str): The file's content.
    """
    atomic_write_bytes(path, text.encode('utf-8'))


def atomic_write_image(path: str, array: 'np.ndarray') -> None:
    """Encode an OpenCV image (BGR / gray, any depth cv2 supports) by the
    extension of ``path`` and write it atomically.

    Args:
        path (str): The destination; its extension picks the format (PNG
            without one).
        array (np.ndarray): The image.

    Raises:
        OSError: If OpenCV cannot encode the image.
    """
    import cv2
    ok, buf = cv2.imencode(osp.splitext(path)[1] or '.png', array)
    if not ok:
        raise OSError(f'cannot encode an image for {path}')
    atomic_write_bytes(path, buf.tobytes())


def atomic_write_figure(fig: 'Figure', path: str, dpi: int = 100) -> None:
    """Render a matplotlib figure in memory, write it atomically, close it.

    Args:
        fig (matplotlib.figure.Figure): The figure.
        path (str): The destination; its extension picks the format (PNG
            without one).
        dpi (int): Resolution.
    """
    import io

    import matplotlib.pyplot as plt
    buf = io.BytesIO()
    fig.savefig(buf, format=osp.splitext(path)[1][1:] or 'png', dpi=dpi)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def atomic_torch_save(obj: Any, path: str) -> None:
    """``torch.save`` to a temp file, then rename it to ``path``.

    Args:
        obj (Any): What to save (a checkpoint dict, a state dict, ...).
        path (str): The destination.
    """
    import io

    import torch
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def leftover_temp_files(root: str) -> Dict[str, List[str]]:
    """Temp files that killed writers left under ``root`` (recursively).

    Args:
        root (str): a folder written by :func:`atomic_write_bytes`.

    Returns:
        dict[str, list[str]]: destination path (relative to ``root``, as
        the writer was given it) → its temp files (absolute paths). Empty
        when ``root`` does not exist.
    """
    found: Dict[str, List[str]] = {}
    if not osp.isdir(root):
        return found
    for folder, _, files in os.walk(root):
        for f in files:
            m = _TEMP_NAME.match(f)
            if m:
                dest = osp.relpath(osp.join(folder, m.group('name')), root)
                found.setdefault(dest, []).append(osp.join(folder, f))
    return found
