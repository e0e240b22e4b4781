# Lesion segmentation on the simulated demo data for tools/benchmark_ssl.py
# and make demo: the benchmark config seg_upernet_r18_simulated_lesion.py at
# 64 px, batch 4, 100 iterations (CPU minutes, not a converged schedule).
# With so few steps SGD on plain cross-entropy predicts only background (the
# lesion is ~3 % of the pixels: fgDice 0.0 on every fold, measured), so this
# short schedule uses AdamW and a lesion class weight of 10.
_base_ = '../../benchmarks/seg_upernet_r18_simulated_lesion.py'

data_root = 'data/demo'
crop_size = (64, 64)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadMergedAnnotations'),
    # never below the crop: no padded (ignored) pixels, which mmseg 1.2.2's
    # class-weighted cross-entropy cannot handle
    dict(type='RandomResize', scale=(80, 80), ratio_range=(1.0, 1.5),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.9),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(80, 80), keep_ratio=True),
    dict(type='LoadMergedAnnotations'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(dataset=dict(data_root=data_root, pipeline=train_pipeline)))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(dataset=dict(data_root=data_root, pipeline=test_pipeline)))
test_dataloader = val_dataloader
norm_cfg = dict(type='BN', requires_grad=True)
class_weight = [1.0, 10.0]
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(norm_cfg=norm_cfg),
    decode_head=dict(
        channels=64, norm_cfg=norm_cfg,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False,
                         loss_weight=1.0, class_weight=class_weight)),
    auxiliary_head=dict(
        channels=32, norm_cfg=norm_cfg,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False,
                         loss_weight=0.4, class_weight=class_weight)))
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4))
max_iters = 100
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=max_iters,
         by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=25),
    checkpoint=dict(interval=max_iters, save_best=None))
