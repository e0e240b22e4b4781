# Small CPU run of ANAUS used by the demo (tools/demo.py): ResNet-18, 64 px
# views, batch 4, 30 iterations on data/demo/{images,masks}.
_base_ = './anaus_resnet18_8xb24-300e_us.py'

img_size = 64
data_root = 'data/demo'
train_pipeline = [
    dict(type='LoadImageFromFile', color_type='color'),
    dict(type='LoadAnatomyMask'),
    dict(type='AnatomyPairedViews', size=img_size),
    dict(type='PackInputs',
         algorithm_keys=['view_masks', 'crop_boxes', 'flips', 'core_box',
                         'core_valid'],
         meta_keys=['img_path', 'mask_path', 'ori_shape']),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    pin_memory=False,
    drop_last=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(data_root=data_root, pipeline=train_pipeline))

model = dict(
    backbone=dict(norm_cfg=dict(type='BN')),
    projector=dict(hid_channels=512),
    head=dict(predictor=dict(hid_channels=1024)))

max_iters = 30
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='LARS', lr=0.3 * 4 / 256 * 4, momentum=0.9,
                   weight_decay=1e-6),
    paramwise_cfg=dict(custom_keys={
        'bn': dict(decay_mult=0, lars_exclude=True),
        'bias': dict(decay_mult=0, lars_exclude=True),
        'downsample.1': dict(decay_mult=0, lars_exclude=True),
        'mlp.1': dict(decay_mult=0, lars_exclude=True),
    }))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=5),
    dict(type='CosineAnnealingLR', T_max=max_iters - 5, by_epoch=False,
         begin=5, end=max_iters),
]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop',
                 max_iters=max_iters)
# the LR above is set for a total batch of 4 (tools/train.py --auto-scale-lr
# and tools/benchmark_ssl.py scale it linearly from here)
auto_scale_lr = dict(base_batch_size=4)
default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1),
)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0, deterministic=False)
log_processor = dict(by_epoch=False)
