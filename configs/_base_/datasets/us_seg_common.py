# Shared data settings of the segmentation benchmarks: the dataset (its
# ``type`` and ``data_root`` come from the dataset file that inherits this)
# is wrapped in GroupKFoldDataset; fold 0 of 5 by default, tools/kfold.py
# runs every fold. Binary masks are binarised / merged by
# LoadMergedAnnotations.
crop_size = (224, 224)
img_scale = (256, 256)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadMergedAnnotations'),
    dict(type='RandomResize', scale=img_scale, ratio_range=(0.75, 1.5),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.9),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadMergedAnnotations'),
    dict(type='PackSegInputs')
]
kfold = dict(type='GroupKFoldDataset', fold=0, num_splits=5, seed=0)
train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(**kfold, test_mode=False,
                 dataset=dict(pipeline=train_pipeline)))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(**kfold, test_mode=True,
                 dataset=dict(pipeline=test_pipeline)))
test_dataloader = val_dataloader
# Dice, PPV (precision), sensitivity (recall): per class, mean, foreground.
val_evaluator = dict(type='USSegMetric', iou_metrics=['mDice', 'mFscore'])
test_evaluator = val_evaluator
