"""configs/anaus/metafile.yml agrees with the configs it names."""
import os
import os.path as osp
import re

import pytest
import yaml
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

OPTIMIZER_TECHNIQUE = {'LARS': 'LARS', 'AdamW': 'AdamW'}
NECK_ARCH = {'mmseg.FPN': 'FPN (mmseg)',
             'SimpleFeaturePyramid': 'SimpleFeaturePyramid'}


def test_metafile_agrees_with_configs():
    with open(osp.join(REPO, 'configs/anaus/metafile.yml')) as f:
        meta = yaml.safe_load(f)
    collection = meta['Collections'][0]
    assert osp.isfile(osp.join(REPO, collection['README']))
    assert meta['Models']
    for model in meta['Models']:
        path = osp.join(REPO, model['Config'])
        assert osp.basename(path) == model['Name'] + '.py', model['Name']
        cfg = Config.fromfile(path)
        md = model['Metadata']
        name = model['Name']
        # total batch: per-process batch x processes (the LR's reference)
        total = cfg.auto_scale_lr.base_batch_size
        assert md['Batch Size'] == total, name
        gpus = re.search(r'_(\d+)xb(\d+)-', name)
        if gpus:
            assert int(gpus.group(2)) == cfg.train_dataloader.batch_size
            assert int(gpus.group(1)) * int(gpus.group(2)) == total
        if md.get('Training Resources', '').endswith('GPUs'):
            n = int(md['Training Resources'].split('x')[0])
            assert n * cfg.train_dataloader.batch_size == total, name
        else:  # a single process
            assert cfg.train_dataloader.batch_size == total, name
        loop = cfg.train_cfg
        if loop.type == 'EpochBasedTrainLoop':
            assert md['Epochs'] == loop.max_epochs and \
                'Iterations' not in md, name
        else:
            assert md['Iterations'] == loop.max_iters and \
                'Epochs' not in md, name
        techniques = md['Training Techniques']
        assert OPTIMIZER_TECHNIQUE[cfg.optim_wrapper.optimizer.type] in \
            techniques, name
        amp = cfg.optim_wrapper.type == 'AmpOptimWrapper'
        assert ('Mixed Precision Training' in techniques) == amp, name
        arch = md['Architecture']
        assert cfg.model.backbone.type in arch, name
        assert NECK_ARCH[cfg.model.neck.type] in arch, name
        assert cfg.model.type in arch, name
        assert set(techniques) <= set(
            collection['Metadata']['Training Techniques'])
        assert set(arch) <= set(collection['Metadata']['Architecture'])


# OpenMMLab's <algo>_<backbone>_<N>xb<bs>-<schedule>_<data>.py: hyphens
# inside a field, underscores between fields; the schedule is epochs (e) or
# iterations (it)
NAME = re.compile(r'^(?P<algo>[a-z0-9]+(?:-[a-z0-9]+)*)_'
                  r'(?P<backbone>[a-z0-9]+(?:-[a-z0-9]+)*)_'
                  r'(?P<gpus>\d+)xb(?P<batch>\d+)(?:-[a-z0-9]+)*?'
                  r'-(?P<length>\d+)(?P<unit>e|it)_'
                  r'(?P<data>[a-z0-9]+(?:-[a-z0-9]+)*)\.py$')


def _configs(folder):
    return sorted(f for f in os.listdir(osp.join(REPO, 'configs', folder))
                  if f.endswith('.py'))


@pytest.mark.parametrize('folder', ['anaus', 'selfsup', 'lpsam'])
def test_config_names_follow_the_openmmlab_pattern(folder):
    names = _configs(folder)
    assert names
    for name in names:
        m = NAME.match(name)
        assert m, f'configs/{folder}/{name}'
        cfg = Config.fromfile(osp.join(REPO, 'configs', folder, name))
        assert int(m['batch']) == cfg.train_dataloader.batch_size, name
        if m['unit'] == 'e':
            assert int(m['length']) == cfg.train_cfg.max_epochs, name
        else:
            assert int(m['length']) == cfg.train_cfg.max_iters, name


def test_short_vit_b_name_is_the_full_config():
    short = Config.fromfile(osp.join(REPO, 'configs/anaus_vit-b_pretrain.py'))
    full = Config.fromfile(
        osp.join(REPO, 'configs/anaus/anaus_vit-b-p16_8xb24-300e_us.py'))
    assert short.to_dict() == full.to_dict()
