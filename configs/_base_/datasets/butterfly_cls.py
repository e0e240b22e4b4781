# Butterfly 9-view classification, grouped by patient
# (anaus_mm/datasets/butterfly.py).
_base_ = ['./us_cls_common.py']
dataset_type = 'ButterflyDataset'
data_root = 'data/butterfly/butterfly_dataset'
num_classes = 9
train_dataloader = dict(dataset=dict(dataset=dict(
    type=dataset_type, data_root=data_root)))
val_dataloader = dict(dataset=dict(dataset=dict(
    type=dataset_type, data_root=data_root)))
test_dataloader = val_dataloader
