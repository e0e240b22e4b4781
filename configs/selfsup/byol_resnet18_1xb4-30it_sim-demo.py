# BYOL (mmpretrain's built-in algorithm, https://arxiv.org/abs/2006.07733)
# with a ResNet-18 on an ultrasound image folder: a short CPU run, the
# baseline ANAUS is compared against.
_base_ = './_base_/ssl_1xb4-30it_sim-demo.py'

model = dict(
    type='BYOL',
    base_momentum=0.01,
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(type='ResNet', depth=18, norm_cfg=dict(type='BN'),
                  zero_init_residual=False),
    neck=dict(type='NonLinearNeck', in_channels=512, hid_channels=1024,
              out_channels=256, num_layers=2, with_bias=True,
              with_last_bn=False, with_avg_pool=True,
              norm_cfg=dict(type='BN1d')),
    head=dict(
        type='LatentPredictHead',
        predictor=dict(type='NonLinearNeck', in_channels=256,
                       hid_channels=1024, out_channels=256, num_layers=2,
                       with_bias=True, with_last_bn=False,
                       with_avg_pool=False, norm_cfg=dict(type='BN1d')),
        loss=dict(type='CosineSimilarityLoss')))
