# Simulated benign / malignant classification.
_base_ = ['./us_cls_common.py']
dataset_type = 'SimulatedUSClsDataset'
data_root = 'data/simulated'
num_classes = 2
train_dataloader = dict(dataset=dict(dataset=dict(
    type=dataset_type, data_root=data_root)))
val_dataloader = dict(dataset=dict(dataset=dict(
    type=dataset_type, data_root=data_root)))
test_dataloader = val_dataloader
