# TN3K nodule segmentation, trainval + test pooled for 5-fold CV (layout:
# anaus_mm/datasets/tn3k.py).
_base_ = ['./us_seg_common.py']
dataset_type = 'TN3KDataset'
data_root = 'data/tn3k'
train_dataloader = dict(dataset=dict(dataset=dict(
    type=dataset_type, data_root=data_root, split='all')))
val_dataloader = dict(dataset=dict(dataset=dict(
    type=dataset_type, data_root=data_root, split='all')))
test_dataloader = val_dataloader
