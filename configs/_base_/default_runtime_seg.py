# Runtime of the project's mmseg-scope configs (segmentation benchmarks,
# LP-SAM): mmseg's own default runtime (scope, env_cfg, SegLocalVisualizer,
# iteration-based log processor), plus the package's registration, a fixed
# seed, cudnn benchmark off (input sizes vary between datasets) and the hooks
# (mmseg keeps them in its schedules).
_base_ = 'mmseg::_base_/default_runtime.py'

custom_imports = dict(imports=['anaus_mm'], allow_failed_imports=False)
env_cfg = dict(cudnn_benchmark=False)
randomness = dict(seed=0)
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=2000,
                    max_keep_ckpts=1, save_best='fgDice', rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
