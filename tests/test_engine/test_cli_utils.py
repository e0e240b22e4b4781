"""Helpers shared by the tools: --pretrained, cfg-option checks, atomic
writes."""
import os
import stat

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import HistoryBuffer

from anaus_mm.utils.cli import (CLIError, check_cfg_options,
                                pretrained_init_cfg)
from anaus_mm.utils.io import (atomic_torch_save, atomic_write_figure,
                               atomic_write_text)


def test_pretrained_init_cfg_routes(tmp_path):
    whole = tmp_path / 'whole.pth'
    # an mmengine training checkpoint: pickles more than tensors
    torch.save({'state_dict': {'backbone.conv1.weight': torch.zeros(1),
                               'neck.w': torch.zeros(1)},
                'message_hub': HistoryBuffer()}, whole)
    assert pretrained_init_cfg(str(whole)) == dict(
        type='Pretrained', checkpoint=str(whole), prefix='backbone.')
    plain = tmp_path / 'plain.pth'
    torch.save({'state_dict': {'conv1.weight': torch.zeros(1)}}, plain)
    assert pretrained_init_cfg(str(plain)) == dict(type='Pretrained',
                                                   checkpoint=str(plain))
    with pytest.raises(CLIError, match='not found'):
        pretrained_init_cfg(str(tmp_path / 'missing.pth'))


def test_cfg_options_must_exist():
    cfg = Config(dict(model=dict(backbone=dict(depth=18, init_cfg=None)),
                      pipeline=[dict(type='A'), dict(type='B')]))
    check_cfg_options(cfg, {'model.backbone.depth': 50,
                            'pipeline.1.type': 'C'})
    with pytest.raises(CLIError, match='no "dept" under model.backbone'
                       r'.*did you mean: depth'):
        check_cfg_options(cfg, {'model.backbone.dept': 50})
    with pytest.raises(CLIError, match='no "5" under pipeline'):
        check_cfg_options(cfg, {'pipeline.5.type': 'C'})


def test_atomic_writes_leave_no_temp_files(tmp_path):
    atomic_write_text(str(tmp_path / 'a' / 'x.json'), '{"a": 1}')
    atomic_torch_save({'w': torch.ones(2)}, str(tmp_path / 'a' / 'w.pth'))
    assert sorted(os.listdir(tmp_path / 'a')) == ['w.pth', 'x.json']
    assert (tmp_path / 'a' / 'x.json').read_text() == '{"a": 1}'
    loaded = torch.load(tmp_path / 'a' / 'w.pth', weights_only=True)
    assert torch.equal(loaded['w'], torch.ones(2))
    mode = stat.S_IMODE(os.stat(tmp_path / 'a' / 'x.json').st_mode)
    assert mode & stat.S_IRGRP  # not mkstemp's private 0o600


def test_atomic_figure_is_a_closed_png(tmp_path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig = plt.figure(figsize=(1, 1))
    atomic_write_figure(fig, str(tmp_path / 'f.png'), dpi=20)
    assert os.listdir(tmp_path) == ['f.png']
    assert (tmp_path / 'f.png').read_bytes()[:4] == b'\x89PNG'
    assert not plt.fignum_exists(fig.number)
