"""configs/anaus/metafile.yml agrees with the configs it names."""
import os.path as osp
import re

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
