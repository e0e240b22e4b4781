# ResNet-18 classifier (mmpretrain). The paper fine-tunes the last three
# stages: frozen_stages=1 freezes the stem and stage 1. Pre-trained weights:
# tools/kfold.py --pretrained CKPT, or set model.backbone.init_cfg=dict(
# type='Pretrained', checkpoint=CKPT, prefix='backbone.'); None = random.
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(
        num_classes=3,
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='ResNet',
        depth=18,
        num_stages=4,
        out_indices=(3, ),
        frozen_stages=1,
        norm_cfg=dict(type='BN'),
        style='pytorch',
        init_cfg=None),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=3,
        in_channels=512,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, )))
