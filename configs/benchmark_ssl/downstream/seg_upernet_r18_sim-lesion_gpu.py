# Lesion segmentation on simulated data at 224 px on one GPU for
# configs/benchmark_ssl/sim_gpu_resnet18_vit-b.py: the benchmark config
# seg_upernet_r18_simulated_lesion.py (UPerNet + ResNet-18, 224 crops) with
# the short-schedule choices of the CPU demo (AdamW 1e-3, lesion class
# weight 10: with a few hundred SGD steps on plain cross-entropy the model
# predicts only background) and GPU data loading. The benchmark sets the
# iteration budget (finetune_iters) and the data root.
_base_ = '../../benchmarks/seg_upernet_r18_simulated_lesion.py'

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
optim_wrapper = dict(
    _delete_=True, type='AmpOptimWrapper', loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4))
max_iters = 300
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=max_iters,
         by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=max_iters, save_best=None))
