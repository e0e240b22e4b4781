"""Atomic file writes: a reader never sees a half-written file."""
import os
import os.path as osp
import tempfile

__all__ = ['atomic_write_bytes', 'atomic_write_text']


def atomic_write_bytes(path, data):
    """Write ``data`` to a temp file next to ``path``, then rename it."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.' + osp.basename(path),
                               suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def atomic_write_text(path, text):
    atomic_write_bytes(path, text.encode('utf-8'))
