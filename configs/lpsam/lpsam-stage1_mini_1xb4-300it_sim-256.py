# LP-SAM stage 1 as lpsam-stage1_mini_1xb4-300it_sim-128.py at 256 px: the
# stand-in (trained at 128) is loaded with its position tables resized to a
# 16x16 token grid; masks come out at 64x64 instead of 32x32 (the input-size
# trade-off of configs/lpsam/README.md).
#   python tools/train.py configs/lpsam/lpsam-stage1_mini_1xb4-300it_sim-256.py
_base_ = ['./lpsam-stage1_mini_1xb4-300it_sim-128.py']
img_size = 256
model = dict(img_size=img_size,
             data_preprocessor=dict(size=(img_size, img_size)))
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
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
