# Simulated anatomy segmentation (7 classes of the simulator).
_base_ = ['./us_seg_common.py']
dataset_type = 'SimulatedUSDataset'
data_root = 'data/simulated'
train_dataloader = dict(dataset=dict(dataset=dict(
    type=dataset_type, data_root=data_root, task='anatomy')))
val_dataloader = dict(dataset=dict(dataset=dict(
    type=dataset_type, data_root=data_root, task='anatomy')))
test_dataloader = val_dataloader
