# DDTI nodule segmentation (layout: anaus_mm/datasets/thyroid.py).
_base_ = ['./us_seg_common.py']
dataset_type = 'DDTIDataset'
data_root = 'data/ddti'
train_dataloader = dict(dataset=dict(dataset=dict(
    type=dataset_type, data_root=data_root)))
val_dataloader = dict(dataset=dict(dataset=dict(
    type=dataset_type, data_root=data_root)))
test_dataloader = val_dataloader
