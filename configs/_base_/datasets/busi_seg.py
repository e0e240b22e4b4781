# BUSI lesion segmentation (benign + malignant; layout:
# anaus_mm/datasets/busi.py).
_base_ = ['./us_seg_common.py']
dataset_type = 'BUSIDataset'
data_root = 'data/busi'
train_dataloader = dict(dataset=dict(dataset=dict(
    type=dataset_type, data_root=data_root)))
val_dataloader = dict(dataset=dict(dataset=dict(
    type=dataset_type, data_root=data_root)))
test_dataloader = val_dataloader
