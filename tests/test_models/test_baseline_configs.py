"""The built-in SSL baselines of the benchmark build from their configs and
take a training step on views made by their own pipelines."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.registry import DefaultScope

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.mark.parametrize('name', ['byol', 'densecl', 'simclr', 'mocov3'])
def test_baseline_config_takes_a_step(name):
    from mmpretrain.registry import MODELS, TRANSFORMS
    cfg = Config.fromfile(osp.join(
        REPO, f'configs/selfsup/{name}_resnet18_1xb4-30it_sim-demo.py'))
    MessageHub.get_current_instance().update_info('max_iters', 10)
    torch.manual_seed(0)
    np.random.seed(0)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        pipeline = Compose([TRANSFORMS.build(t)
                            for t in cfg.train_pipeline[1:]])
        model = MODELS.build(cfg.model)
    img = np.random.RandomState(0).randint(0, 255, (80, 96, 3)).astype(
        np.uint8)
    batch = [pipeline(dict(img=img.copy(), img_shape=img.shape[:2],
                           ori_shape=img.shape[:2])) for _ in range(4)]
    data = dict(inputs=[torch.stack([b['inputs'][v] for b in batch])
                        for v in range(2)],
                data_samples=[b['data_samples'] for b in batch])
    data = model.data_preprocessor(data, training=True)
    assert data['inputs'][0].shape == (4, 3, cfg.img_size, cfg.img_size)
    losses = model.loss(data['inputs'], data['data_samples'])
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    assert model.backbone.conv1.weight.grad.abs().sum() > 0
