# BYOL (mmpretrain's built-in algorithm) with a ResNet-18 on the simulated
# demo data: a short CPU run. The baseline ANAUS is compared against.
# Paper: https://arxiv.org/abs/2006.07733
custom_imports = dict(imports=['anaus_mm'], allow_failed_imports=False)
default_scope = 'mmpretrain'

data_root = 'data/demo'
img_size = 64
batch_size = 4

data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)


def _view(blur_prob, solarize_prob):
    return [
        dict(type='RandomResizedCrop', scale=img_size, crop_ratio_range=(
            0.2, 1.0), backend='pillow'),
        dict(type='RandomFlip', prob=0.5),
        dict(type='RandomApply', prob=0.8, transforms=[
            dict(type='ColorJitter', brightness=0.4, contrast=0.4,
                 saturation=0.2, hue=0.1)]),
        dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
             channel_weights=(0.114, 0.587, 0.2989)),
        dict(type='GaussianBlur', magnitude_range=(0.1, 2.0),
             magnitude_std='inf', prob=blur_prob),
        dict(type='Solarize', thr=128, prob=solarize_prob),
    ]


train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=[1, 1],
         transforms=[_view(1.0, 0.0), _view(0.1, 0.2)]),
    dict(type='PackInputs'),
]
del _view

train_dataloader = dict(
    batch_size=batch_size,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='CustomDataset',
        data_root=data_root,
        data_prefix='images',
        with_label=False,
        pipeline=train_pipeline))

model = dict(
    type='BYOL',
    base_momentum=0.01,
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ResNet', depth=18, norm_cfg=dict(type='BN'),
        zero_init_residual=False),
    neck=dict(
        type='NonLinearNeck', in_channels=512, hid_channels=1024,
        out_channels=256, num_layers=2, with_bias=True, with_last_bn=False,
        with_avg_pool=True),
    head=dict(
        type='LatentPredictHead',
        predictor=dict(
            type='NonLinearNeck', in_channels=256, hid_channels=1024,
            out_channels=256, num_layers=2, with_bias=True,
            with_last_bn=False, with_avg_pool=False),
        loss=dict(type='CosineSimilarityLoss')))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='LARS', lr=0.3 * batch_size / 256, momentum=0.9,
                   weight_decay=1e-6),
    paramwise_cfg=dict(custom_keys={
        'bn': dict(decay_mult=0, lars_exclude=True),
        'bias': dict(decay_mult=0, lars_exclude=True),
        'downsample.1': dict(decay_mult=0, lars_exclude=True),
    }))

max_iters = 20
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=5),
    dict(type='CosineAnnealingLR', T_max=max_iters - 5, by_epoch=False,
         begin=5, end=max_iters),
]

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=5),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=10,
                    max_keep_ckpts=2),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
