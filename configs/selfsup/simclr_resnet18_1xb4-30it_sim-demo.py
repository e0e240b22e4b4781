# SimCLR (mmpretrain's built-in algorithm, https://arxiv.org/abs/2002.05709)
# with a ResNet-18 on an ultrasound image folder: a short CPU run.
_base_ = './_base_/ssl_1xb4-30it_sim-demo.py'

model = dict(
    type='SimCLR',
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(type='ResNet', depth=18, norm_cfg=dict(type='BN'),
                  zero_init_residual=True),
    neck=dict(type='NonLinearNeck', in_channels=512, hid_channels=512,
              out_channels=128, num_layers=2, with_avg_pool=True,
              norm_cfg=dict(type='BN1d')),
    head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'),
              temperature=0.1))
