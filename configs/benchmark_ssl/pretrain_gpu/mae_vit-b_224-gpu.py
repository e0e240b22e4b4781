# MAE ViT-B/16 (mmpretrain's recipe: AdamW 1.5e-4 x batch/256, betas 0.9 /
# 0.95, wd 0.05, 75 % masking, AMP, warm-up then cosine) on an ultrasound
# image folder, one GPU, for configs/benchmark_ssl/sim_gpu_resnet18_vit-b.py
# (budget: the benchmark's pretrain=dict(max_iters, batch_size); schedules
# stretched to it, LR scaled from auto_scale_lr.base_batch_size=4096).
_base_ = 'mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'

data_root = 'data/us_pretrain'
train_pipeline = [
    dict(type='LoadImageFromFile', color_type='color'),  # gray -> 3 ch
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.2, 1.0),
         backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    collate_fn=dict(_delete_=True, type='default_collate'),
    dataset=dict(_delete_=True, type='USAnatomyDataset', data_root=data_root,
                 img_dir='images', pipeline=train_pipeline))
default_hooks = dict(logger=dict(interval=20))
resume = False
