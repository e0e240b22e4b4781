# DenseCL (mmpretrain's built-in algorithm, https://arxiv.org/abs/2011.09157)
# with a ResNet-18 on an ultrasound image folder: a short CPU run.
_base_ = './_base_/ssl_1xb4-30it_sim-demo.py'

model = dict(
    type='DenseCL',
    queue_len=1024,
    feat_dim=128,
    momentum=0.001,
    loss_lambda=0.5,
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(type='ResNet', depth=18, norm_cfg=dict(type='BN'),
                  zero_init_residual=False),
    neck=dict(type='DenseCLNeck', in_channels=512, hid_channels=512,
              out_channels=128, num_grid=None),
    head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'),
              temperature=0.2))
