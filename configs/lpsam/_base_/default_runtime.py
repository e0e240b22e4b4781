# Runtime shared by the LP-SAM configs: the project's mmseg runtime with
# epoch-based logging and checkpoints that keep the best validation mDice
# (and the latest, for resuming).
_base_ = '../../_base_/default_runtime_seg.py'

log_processor = dict(by_epoch=True)
randomness = dict(_delete_=True, seed=None)  # as before: a seed per run
default_hooks = dict(
    logger=dict(interval=10, log_metric_by_epoch=True),
    checkpoint=dict(by_epoch=True, interval=5, save_best='mDice'))
