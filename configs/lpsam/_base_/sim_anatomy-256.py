# Simulated ultrasound (anaus_mm.datasets.simulation), anatomy task.
_base_ = ['./us_seg_pipelines-256.py']
dataset_type = 'SimulatedUSDataset'
data_root = 'data/sim'
train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        task='anatomy',
        data_prefix=dict(img_path='images', seg_map_path='masks'),
        pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        task='anatomy',
        data_prefix=dict(img_path='images', seg_map_path='masks'),
        pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader
