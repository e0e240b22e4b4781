"""``resolve_checkpoint``: a file, a work dir's best or last checkpoint
(mmengine's ``find_latest_checkpoint``), one-line errors otherwise."""
import os
import os.path as osp

import pytest

from anaus_mm.utils.checkpoint import (CheckpointNotFoundError,
                                       resolve_checkpoint)
from anaus_mm.utils.errors import AnausError


def _touch(path, mtime=None):
    open(path, 'wb').close()
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return str(path)


def test_file_and_last_checkpoint(tmp_path):
    ckpt = _touch(tmp_path / 'iter_20.pth')
    assert resolve_checkpoint(ckpt) == ckpt
    (tmp_path / 'last_checkpoint').write_text(ckpt + '\n')
    assert resolve_checkpoint(str(tmp_path)) == ckpt


def test_best_is_newest_not_lexicographic(tmp_path):
    last = _touch(tmp_path / 'iter_1000.pth')
    (tmp_path / 'last_checkpoint').write_text(last)
    _touch(tmp_path / 'best_mDice_iter_900.pth', mtime=1_000)
    newest = _touch(tmp_path / 'best_mDice_iter_1000.pth', mtime=2_000)
    assert resolve_checkpoint(str(tmp_path)) == newest
    assert resolve_checkpoint(str(tmp_path), prefer_best=False) == last


def test_moved_work_dir_falls_back_to_file_name(tmp_path):
    ckpt = _touch(tmp_path / 'iter_5.pth')
    # written by a run from another cwd / before the work dir was moved
    (tmp_path / 'last_checkpoint').write_text('elsewhere/run/iter_5.pth')
    assert resolve_checkpoint(str(tmp_path)) == osp.join(str(tmp_path),
                                                         'iter_5.pth')
    assert osp.samefile(resolve_checkpoint(str(tmp_path)), ckpt)


@pytest.mark.parametrize('case', ['missing', 'empty_dir', 'dangling'])
def test_one_line_errors(tmp_path, case):
    path = str(tmp_path / 'nowhere') if case == 'missing' else str(tmp_path)
    if case == 'dangling':
        (tmp_path / 'last_checkpoint').write_text('gone/iter_7.pth')
    with pytest.raises(CheckpointNotFoundError) as info:
        resolve_checkpoint(path, what='stage-1 checkpoint')
    assert isinstance(info.value, (AnausError, FileNotFoundError))
    msg = str(info.value)
    assert '\n' not in msg and 'stage-1 checkpoint' in msg and path in msg
