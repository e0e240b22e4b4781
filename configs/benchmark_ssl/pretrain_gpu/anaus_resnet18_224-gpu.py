# ANAUS ResNet-18 with the recipe of the CPU benchmark
# (configs/anaus/anaus_resnet18_1xb4-30it_sim-demo.py: LARS
# 0.3 x 4 x batch/256,
# warm-up then cosine, the ResNet-18 defaults -- the recipe family of the
# baselines in this folder, so every ResNet-18 method starts from the same
# LR rule) at 224 px on one GPU, for
# configs/benchmark_ssl/sim_gpu_resnet18_vit-b.py (budget: the benchmark's
# pretrain=dict(max_iters, batch_size); LR scaled linearly from
# auto_scale_lr.base_batch_size).
_base_ = '../../anaus/anaus_resnet18_1xb4-30it_sim-demo.py'

img_size = 224
train_pipeline = [
    dict(type='LoadImageFromFile', color_type='color'),
    dict(type='LoadAnatomyMask'),
    dict(type='AnatomyPairedViews', size=img_size),
    dict(type='PackInputs',
         algorithm_keys=['view_masks', 'crop_boxes', 'flips', 'core_box',
                         'core_valid'],
         meta_keys=['img_path', 'mask_path', 'ori_shape']),
]
train_dataloader = dict(
    num_workers=8, persistent_workers=True, pin_memory=True,
    dataset=dict(pipeline=train_pipeline))
default_hooks = dict(logger=dict(interval=20))
