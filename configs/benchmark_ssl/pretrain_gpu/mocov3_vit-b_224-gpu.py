# MoCo v3 ViT-B/16 (mmpretrain's recipe: its two asymmetric views, AdamW,
# AMP, momentum encoder) on an ultrasound image folder, one GPU, for
# configs/benchmark_ssl/sim_gpu_resnet18_vit-b.py (budget: the benchmark's
# pretrain=dict(max_iters, batch_size); schedules stretched to it, LR scaled
# from auto_scale_lr.base_batch_size=4096).
_base_ = 'mmpretrain::mocov3/mocov3_vit-base-p16_16xb256-amp-coslr-300e_in1k.py'

data_root = 'data/us_pretrain'
train_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    collate_fn=dict(_delete_=True, type='default_collate'),
    dataset=dict(_delete_=True, type='USAnatomyDataset', data_root=data_root,
                 img_dir='images', pipeline={{_base_.train_pipeline}}))
default_hooks = dict(logger=dict(interval=20))
resume = False
