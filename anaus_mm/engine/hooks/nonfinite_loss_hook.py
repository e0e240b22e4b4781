"""Stop training on a non-finite loss, naming the iteration and the term.

mmengine's ``OptimWrapper`` does not check losses; a NaN would silently
poison the EMA target and every later step.

Registered in both mmpretrain's and mmseg's ``HOOKS``, so that
``custom_hooks = [dict(type='NonFiniteLossHook')]`` works in configs of
either ``default_scope`` (pre-training, classification, segmentation,
LP-SAM).
"""
import math
from typing import TYPE_CHECKING, Optional, Union

from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS as CLS_HOOKS
from mmseg.registry import HOOKS as SEG_HOOKS

from anaus_mm.utils.errors import AnausError

if TYPE_CHECKING:
    from mmengine.runner import Runner


class NonFiniteLossError(AnausError, RuntimeError):
    """A loss term became NaN or infinite (reported as one line by tools)."""


@SEG_HOOKS.register_module()
@CLS_HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Check every logged loss term after each training iteration.

    Args:
        interval (int): Check every ``interval`` iterations. Defaults to 1.
    """

    priority = 'VERY_HIGH'

    def __init__(self, interval: int = 1) -> None:
        self.interval = interval

    def after_train_iter(self,
                         runner: 'Runner',
                         batch_idx: int,
                         data_batch: Optional[Union[dict, tuple, list]] = None,
                         outputs: Optional[dict] = None) -> None:
        """Raise if a loss term of ``outputs`` is NaN or infinite.

        Args:
            runner (Runner): The runner of the training.
            batch_idx (int): The index of the batch in the epoch.
            data_batch (dict | tuple | list, optional): The batch (unused).
            outputs (dict, optional): The logged outputs of the iteration;
                every key containing 'loss' is checked.

        Raises:
            NonFiniteLossError: Naming the iteration and the term.
        """
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
