# CAMUS LV endocardium / myocardium / left atrium (NIfTI or .mhd; layout:
# anaus_mm/datasets/camus.py).
_base_ = ['./us_seg_common.py']
dataset_type = 'CAMUSDataset'
data_root = 'data/camus'
# NIfTI / MetaImage images need LoadUSImageFromFile.
train_pipeline = [
    dict(type='LoadUSImageFromFile'),
    dict(type='LoadMergedAnnotations'),
    dict(type='RandomResize', scale={{_base_.img_scale}},
         ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size={{_base_.crop_size}},
         cat_max_ratio=0.9),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadUSImageFromFile'),
    dict(type='Resize', scale={{_base_.img_scale}}, keep_ratio=True),
    dict(type='LoadMergedAnnotations'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(dataset=dict(dataset=dict(
    type=dataset_type, data_root=data_root, pipeline=train_pipeline)))
val_dataloader = dict(dataset=dict(dataset=dict(
    type=dataset_type, data_root=data_root, pipeline=test_pipeline)))
test_dataloader = val_dataloader
