# The simulated SAM stand-in (LP-SAM stage 0): SAM's unmodified modules,
# "mini" architecture (1.1 M parameters), trained class-agnostically with
# jittered box and single-point prompts on a *source* domain (linear probe,
# 3-5 cm depth, other gain / contrast / speckle) that differs from the
# demo's target domain (convex probe, default settings). It plays the role
# SA-1B training plays for Meta's checkpoints; see configs/lpsam/README.md
# for the commands (simulate, train, export to the official layout).
#   python tools/train.py configs/lpsam/sam-standin_mini_1xb8-3000it_sim-linear-128.py
_base_ = ['./_base_/default_runtime.py']
img_size = 128
data_root = 'data/sam_source'
metainfo = dict(  # the simulator's anatomy classes (meta.json)
    classes=('background', 'subcutaneous', 'fascia', 'parenchyma', 'muscle',
             'vessel', 'lesion'),
    palette=[[0, 0, 0], [230, 190, 60], [250, 250, 250], [90, 170, 90],
             [180, 80, 80], [60, 120, 230], [230, 60, 200]])
model = dict(
    type='LPSAM',
    stage=0,
    num_classes=6,  # label ids whose regions are objects (class-agnostic)
    arch='mini',
    img_size=img_size,
    decode_head=dict(
        type='SampledPromptHead',
        box_prob=0.5,
        loss_resolution='input',
        loss_decode=dict(type='BCEDiceLoss', alpha=0.8, pos_weight=2.0),
        iou_loss_weight=1.0),
    score_thr=0.5,
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255,
        size=(img_size, img_size)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomGamma', prob=0.5, gamma_range=(0.7, 1.5)),
    dict(type='RandomApply', prob=0.5, transforms=[
        dict(type='RandomResize', scale=(img_size, img_size),
             ratio_range=(1.0, 1.5), keep_ratio=True),
        dict(type='RandomCrop', crop_size=(img_size, img_size)),
    ]),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=False),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
dataset = dict(
    type='BaseSegDataset',
    data_root=data_root,
    metainfo=metainfo,
    img_suffix='.png',
    seg_map_suffix='.png')
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(**dataset, pipeline=train_pipeline,
                 data_prefix=dict(img_path='images', seg_map_path='masks')))
# validation with ground-truth boxes on held-out source images
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(**dataset, data_prefix=dict(
        img_path='val/images', seg_map_path='val/masks'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mDice'])
test_evaluator = val_evaluator
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
    clip_grad=dict(max_norm=1.0))
max_iters = 3000
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=150),
    dict(type='CosineAnnealingLR', T_max=max_iters - 150, eta_min=1e-5,
         by_epoch=False, begin=150, end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=1000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
log_processor = dict(by_epoch=False)
default_hooks = dict(
    logger=dict(interval=50, log_metric_by_epoch=False),
    checkpoint=dict(by_epoch=False, interval=1000, max_keep_ckpts=1))
randomness = dict(seed=0)
