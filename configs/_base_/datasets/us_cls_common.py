# Shared data settings of the classification benchmarks (mmpretrain): the
# dataset (``type``/``data_root`` from the inheriting file) is wrapped in
# GroupKFoldDataset (grouped by patient / video, stratified by class); fold 0
# of 5 by default, tools/kfold.py runs every fold.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.5, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs')
]
kfold = dict(type='GroupKFoldDataset', fold=0, num_splits=5, seed=0)
train_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(**kfold, test_mode=False,
                 dataset=dict(pipeline=train_pipeline)))
val_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(**kfold, test_mode=True,
                 dataset=dict(pipeline=test_pipeline)))
test_dataloader = val_dataloader
# accuracy and macro precision / recall / F1
val_evaluator = [
    dict(type='Accuracy', topk=(1, )),
    dict(type='SingleLabelMetric', average='macro')
]
test_evaluator = val_evaluator
