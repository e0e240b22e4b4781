"""Stop training on a non-finite loss, naming the iteration and the term.

mmengine's ``OptimWrapper`` does not check losses; a NaN would silently
poison the EMA target and every later step.
"""
import math

from mmengine.hooks import Hook

from mmpretrain.registry import HOOKS
from anaus_mm.utils.errors import AnausError


class NonFiniteLossError(AnausError, RuntimeError):
    """A loss term became NaN or infinite (reported as one line by tools)."""


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Check every logged loss term after each training iteration.

    Args:
        interval (int): Check every ``interval`` iterations. Defaults to 1.
    """

    priority = 'VERY_HIGH'

    def __init__(self, interval=1):
        self.interval = interval

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if not outputs or not self.every_n_train_iters(runner, self.interval):
            return
        for name, value in outputs.items():
            if 'loss' not in name:
                continue
            value = float(value.detach() if hasattr(value, 'detach')
                          else value)
            if not math.isfinite(value):
                raise NonFiniteLossError(
                    f'non-finite loss at iteration {runner.iter + 1}: '
                    f'{name} = {value} (training stopped; lower the learning '
                    'rate or check the data of this batch)')
