# POCUS covid / pneumonia / regular, grouped by video
# (anaus_mm/datasets/pocus.py).
_base_ = ['./us_cls_common.py']
dataset_type = 'POCUSDataset'
data_root = 'data/pocus/image_dataset'
num_classes = 3
train_dataloader = dict(dataset=dict(dataset=dict(
    type=dataset_type, data_root=data_root)))
val_dataloader = dict(dataset=dict(dataset=dict(
    type=dataset_type, data_root=data_root)))
test_dataloader = val_dataloader
