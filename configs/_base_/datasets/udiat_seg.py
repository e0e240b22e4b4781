# UDIAT Dataset B lesion segmentation (layout: anaus_mm/datasets/udiat.py).
_base_ = ['./us_seg_common.py']
dataset_type = 'UDIATDataset'
data_root = 'data/udiat/DatasetB'
train_dataloader = dict(dataset=dict(dataset=dict(
    type=dataset_type, data_root=data_root)))
val_dataloader = dict(dataset=dict(dataset=dict(
    type=dataset_type, data_root=data_root)))
test_dataloader = val_dataloader
