# byol ResNet-18 (configs/selfsup/byol_resnet18_1xb4-30it_sim-demo.py) at 224
# px on one GPU, for configs/benchmark_ssl/sim_gpu_resnet18_vit-b.py (budget:
# the benchmark's pretrain=dict(max_iters, batch_size); LR scaled linearly from
# the recipe's auto_scale_lr.base_batch_size).
_base_ = ['../../selfsup/byol_resnet18_1xb4-30it_sim-demo.py',
          './_us_views_224.py']

train_dataloader = dict(
    num_workers=8, persistent_workers=True, pin_memory=True,
    dataset=dict(pipeline={{_base_.train_pipeline_224}}))
default_hooks = dict(logger=dict(interval=20))
