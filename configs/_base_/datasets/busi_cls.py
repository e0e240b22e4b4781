# BUSI normal / benign / malignant (anaus_mm/datasets/busi.py).
_base_ = ['./us_cls_common.py']
dataset_type = 'BUSIClsDataset'
data_root = 'data/busi'
num_classes = 3
train_dataloader = dict(dataset=dict(dataset=dict(
    type=dataset_type, data_root=data_root)))
val_dataloader = dict(dataset=dict(dataset=dict(
    type=dataset_type, data_root=data_root)))
test_dataloader = val_dataloader
