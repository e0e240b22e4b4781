# Runtime of the project's mmpretrain-scope configs (classification
# benchmarks; SSL pre-training replaces the checkpoint hook): mmpretrain's own
# default runtime (scope, hooks, env_cfg, UniversalVisualizer, log level),
# plus the package's registration and a fixed seed.
_base_ = 'mmpretrain::_base_/default_runtime.py'

custom_imports = dict(imports=['anaus_mm'], allow_failed_imports=False)
randomness = dict(seed=0, deterministic=False)
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(max_keep_ckpts=1, save_best='accuracy/top1',
                    rule='greater'))
