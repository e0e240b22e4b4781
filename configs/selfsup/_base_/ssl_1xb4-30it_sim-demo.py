# Shared settings of the built-in SSL baselines on ultrasound folders (short
# CPU runs): data, the BYOL view protocol, LARS + cosine schedule; the
# runtime is the project's mmpretrain runtime with iteration-based logging and
# checkpoints. Every baseline of tools/benchmark_ssl.py inherits this file, so
# they see the same images, views, batch size and number of iterations as
# ANAUS.
_base_ = '../../_base_/default_runtime_cls.py'

data_root = 'data/demo'
img_size = 64
batch_size = 4
max_iters = 30

data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

# BYOL's views: the geometric part here, the photometric part from the one
# definition ANAUS's AnatomyPairedViews uses too
# (anaus_mm.datasets.transforms.paired_views.byol_photometric)
view_pipeline1 = [
    dict(type='RandomResizedCrop', scale=img_size,
         crop_ratio_range=(0.2, 1.0), backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='BYOLPhotometric', view=0),
]
view_pipeline2 = [
    dict(type='RandomResizedCrop', scale=img_size,
         crop_ratio_range=(0.2, 1.0), backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='BYOLPhotometric', view=1),
]
train_pipeline = [
    dict(type='LoadImageFromFile', color_type='color'),
    dict(type='MultiView', num_views=[1, 1],
         transforms=[view_pipeline1, view_pipeline2]),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=0,
    drop_last=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='USAnatomyDataset',
        data_root=data_root,
        img_dir='images',
        pipeline=train_pipeline))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='LARS', lr=0.3 * batch_size / 256 * 4, momentum=0.9,
                   weight_decay=1e-6),
    paramwise_cfg=dict(custom_keys={
        'bn': dict(decay_mult=0, lars_exclude=True),
        'bias': dict(decay_mult=0, lars_exclude=True),
        'downsample.1': dict(decay_mult=0, lars_exclude=True),
    }))
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters)
# the LR above is set for a total batch of 4 (tools/train.py --auto-scale-lr
# and tools/benchmark_ssl.py scale it linearly from here)
auto_scale_lr = dict(base_batch_size=batch_size)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=5),
    dict(type='CosineAnnealingLR', T_max=max_iters - 5, by_epoch=False,
         begin=5, end=max_iters),
]

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    logger=dict(interval=5),
    # no validation: the last checkpoint only
    checkpoint=dict(_delete_=True, type='CheckpointHook', by_epoch=False,
                    interval=max_iters, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
