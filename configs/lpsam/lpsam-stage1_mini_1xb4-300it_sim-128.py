# LP-SAM stage 1 (domain adapters) at 128 px on the simulated target domain
# (data/demo: convex probe), starting from the simulated SAM stand-in
# (configs/lpsam/README.md, "A promptable SAM stand-in"): SAM frozen, box
# prompts from the ground truth, loss at input size (thin structures).
#   python tools/train.py configs/lpsam/lpsam-stage1_mini_1xb4-300it_sim-128.py
_base_ = ['./_base_/default_runtime.py']
img_size = 128
#: the stand-in, official SAM layout (sha256 in configs/lpsam/README.md)
sam_checkpoint = 'checkpoints/sam-standin_mini_sim-linear-128.pth'
data_root = 'data/demo'
metainfo = dict(  # the simulator's anatomy classes (meta.json)
    classes=('background', 'subcutaneous', 'fascia', 'parenchyma', 'muscle',
             'vessel', 'lesion'),
    palette=[[0, 0, 0], [230, 190, 60], [250, 250, 250], [90, 170, 90],
             [180, 80, 80], [60, 120, 230], [230, 60, 200]])
model = dict(
    type='LPSAM',
    stage=1,
    num_classes=6,
    arch='mini',
    img_size=img_size,
    sam_checkpoint=sam_checkpoint,
    stage1_checkpoint=None,
    decode_head=dict(
        type='BoxPromptHead',
        loss_resolution='input',
        loss_decode=dict(type='BCEDiceLoss', alpha=0.8, pos_weight=2.0)),
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
    dict(type='RandomGamma', prob=0.5, gamma_range=(1.0, 2.5)),
    dict(type='RandomRotate', prob=0.5, degree=30, pad_val=0,
         seg_pad_val=255),
    dict(type='RandomApply', prob=0.5, transforms=[
        dict(type='RandomResize', scale=(img_size, img_size),
             ratio_range=(1.0, 1.3), keep_ratio=True),
        dict(type='RandomCrop', crop_size=(img_size, img_size)),
    ]),
    dict(type='RandomContrast', prob=0.5, contrast_range=(0.8, 2.0)),
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
    seg_map_suffix='.png',
    data_prefix=dict(img_path='images', seg_map_path='masks'))
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(**dataset, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(**dataset, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mDice'])
test_evaluator = val_evaluator
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='Adam', lr=5e-4))
param_scheduler = []
train_cfg = dict(type='IterBasedTrainLoop', max_iters=300, val_interval=300)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
log_processor = dict(by_epoch=False)
default_hooks = dict(
    logger=dict(interval=50, log_metric_by_epoch=False),
    checkpoint=dict(by_epoch=False, interval=300, max_keep_ckpts=1,
                    save_best='mDice', rule='greater'))
