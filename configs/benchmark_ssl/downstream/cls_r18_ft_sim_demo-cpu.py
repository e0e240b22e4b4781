# Benign / malignant classification on the simulated demo data for
# tools/benchmark_ssl.py and make demo: the paper's fine-tuning protocol
# (last three stages trainable, Adam lr 0.01, 30 epochs) at 64 px.
_base_ = '../../benchmarks/cls_r18_ft_simulated.py'

data_root = 'data/demo'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.5, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=72, edge='short'),
    dict(type='CenterCrop', crop_size=64),
    dict(type='PackInputs')
]
train_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(dataset=dict(data_root=data_root, pipeline=train_pipeline)))
val_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(dataset=dict(data_root=data_root, pipeline=test_pipeline)))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=30, val_interval=30)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=30, save_best=None))
