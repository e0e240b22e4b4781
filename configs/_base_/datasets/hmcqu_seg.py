# HMC-QU LV-wall segmentation (frames extracted once into
# data_root/.anaus_frames; layout: anaus_mm/datasets/hmcqu.py).
_base_ = ['./us_seg_common.py']
dataset_type = 'HMCQUDataset'
data_root = 'data/hmcqu'
train_dataloader = dict(dataset=dict(dataset=dict(
    type=dataset_type, data_root=data_root, ann_file='A4C.xlsx')))
val_dataloader = dict(dataset=dict(dataset=dict(
    type=dataset_type, data_root=data_root, ann_file='A4C.xlsx')))
test_dataloader = val_dataloader
