# Simulated lesion segmentation (background / lesion).
_base_ = ['./us_seg_common.py']
dataset_type = 'SimulatedUSDataset'
data_root = 'data/simulated'
train_dataloader = dict(dataset=dict(dataset=dict(
    type=dataset_type, data_root=data_root, task='lesion')))
val_dataloader = dict(dataset=dict(dataset=dict(
    type=dataset_type, data_root=data_root, task='lesion')))
test_dataloader = val_dataloader
