# DDTI thyroid nodules (background / nodule), fold 0 of a grouped 5-fold
# split (train: the other folds; val: fold 0). Change `fold` for the others.
_base_ = ['./us_seg_pipelines-256.py']
data_root = 'data/DDTI'
fold = 0
train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='GroupKFoldDataset', fold=fold, num_splits=5, seed=0,
                 test_mode=False, scope='mmseg',
                 dataset=dict(type='DDTIDataset', data_root=data_root,
                              pipeline={{_base_.train_pipeline}})))
val_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='GroupKFoldDataset', fold=fold, num_splits=5, seed=0,
                 test_mode=True, scope='mmseg',
                 dataset=dict(type='DDTIDataset', data_root=data_root,
                              pipeline={{_base_.test_pipeline}})))
test_dataloader = val_dataloader
