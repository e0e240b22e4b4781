# MoCo v3 (mmpretrain's built-in algorithm, https://arxiv.org/abs/2104.02057)
# with a ResNet-18 on an ultrasound image folder: a short CPU run. The model
# follows mmpretrain's mocov3_resnet50_8xb512-amp-coslr-100e_in1k.py (widths
# for ResNet-18's 512 channels); the views are BYOL's, shared with every
# baseline and ANAUS (equal footing in tools/benchmark_ssl.py).
_base_ = './_base_/ssl_1xb4-30it_sim-demo.py'

temperature = 1.0
model = dict(
    type='MoCoV3',
    base_momentum=0.01,
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(type='ResNet', depth=18, norm_cfg=dict(type='BN'),
                  zero_init_residual=False),
    neck=dict(type='NonLinearNeck', in_channels=512, hid_channels=1024,
              out_channels=256, num_layers=2, with_bias=False,
              with_last_bn=True, with_last_bn_affine=False,
              with_last_bias=False, with_avg_pool=True,
              norm_cfg=dict(type='BN1d')),
    head=dict(
        type='MoCoV3Head',
        predictor=dict(type='NonLinearNeck', in_channels=256,
                       hid_channels=1024, out_channels=256, num_layers=2,
                       with_bias=False, with_last_bn=False,
                       with_last_bn_affine=False, with_last_bias=False,
                       with_avg_pool=False, norm_cfg=dict(type='BN1d')),
        loss=dict(type='CrossEntropyLoss', loss_weight=2 * temperature),
        temperature=temperature))
