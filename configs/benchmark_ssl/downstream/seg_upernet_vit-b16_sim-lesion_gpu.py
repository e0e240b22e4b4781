# Lesion segmentation on simulated data at 224 px on one GPU, ViT-B/16
# backbone (UPerNet + MultiLevelNeck, seg_upernet_vit-b16_simulated_lesion.py)
# for configs/benchmark_ssl/sim_gpu_resnet18_vit-b.py: the recipe's AdamW,
# a short warm-up, lesion class weight 10 (short schedule), AMP, GPU data
# loading.
# The benchmark sets the iteration budget (finetune_iters) and the data root.
_base_ = '../../benchmarks/seg_upernet_vit-b16_simulated_lesion.py'

class_weight = [1.0, 10.0]
train_dataloader = dict(batch_size=16, num_workers=8, persistent_workers=True)
val_dataloader = dict(batch_size=8, num_workers=4, persistent_workers=True)
test_dataloader = val_dataloader
model = dict(
    decode_head=dict(loss_decode=dict(
        type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0,
        class_weight=class_weight)),
    auxiliary_head=dict(loss_decode=dict(
        type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4,
        class_weight=class_weight)))
# the recipe's AdamW (lr 1e-4, wd 0.01, no decay on norms / embeddings)
optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic')
max_iters = 300
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
         end=30),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=30, end=max_iters,
         by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=max_iters, save_best=None))
