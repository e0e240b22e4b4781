# TG3K thyroid-gland segmentation (layout: anaus_mm/datasets/thyroid.py).
_base_ = ['./us_seg_common.py']
dataset_type = 'TG3KDataset'
data_root = 'data/tg3k'
train_dataloader = dict(dataset=dict(dataset=dict(
    type=dataset_type, data_root=data_root)))
val_dataloader = dict(dataset=dict(dataset=dict(
    type=dataset_type, data_root=data_root)))
test_dataloader = val_dataloader
