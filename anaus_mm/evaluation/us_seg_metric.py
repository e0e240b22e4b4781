"""Segmentation metrics of the paper: Dice, PPV (precision) and sensitivity
(recall), per class and averaged.

:class:`USSegMetric` is mmseg's ``IoUMetric`` (which computes all of them)
that additionally *returns* the per-class values it otherwise only prints,
plus their mean over the foreground classes. For a binary task the paper's
Dice is the lesion's Dice (``Dice.lesion`` = ``fgDice``), not ``mDice``,
which also averages in the background.
"""
from typing import Any, Dict, Sequence

import numpy as np
from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS

_NAMES = {'Dice': 'Dice', 'Precision': 'PPV', 'Recall': 'Sensitivity',
          'IoU': 'IoU'}


@METRICS.register_module()
class USSegMetric(IoUMetric):
    """``IoUMetric`` returning per-class and foreground-mean values.

    Args:
        iou_metrics (Sequence[str]): as ``IoUMetric``; default
            ``['mDice', 'mFscore']`` (Dice, precision, recall).
        background_index (int): class left out of the foreground means.
        **kwargs: see :class:`mmseg.evaluation.IoUMetric`.

    Returned keys: ``IoUMetric``'s (``aAcc``, ``mDice``, ``mFscore``,
    ``mPrecision``, ``mRecall``, ...), then ``Dice.<class>``,
    ``PPV.<class>``, ``Sensitivity.<class>`` (and ``IoU.<class>`` with
    'mIoU') and ``fgDice``, ``fgPPV``, ``fgSensitivity``: means over the
    foreground classes (percent). PPV of a class never predicted is NaN.
    """

    def __init__(self,
                 iou_metrics: Sequence[str] = ('mDice', 'mFscore'),
                 background_index: int = 0,
                 **kwargs: Any) -> None:
        super().__init__(iou_metrics=list(iou_metrics), **kwargs)
        self.background_index = background_index

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """``IoUMetric``'s metrics plus the per-class and foreground means.

        Args:
            results (list): The processed results of every batch (per-image
                intersection, union, prediction and label areas).

        Returns:
            Dict[str, float]: The metrics, keyed as described in the class
            docstring (only ``IoUMetric``'s with ``format_only``).
        """
        metrics = super().compute_metrics(results)
        if self.format_only:
            return metrics
        areas = [sum(r) for r in zip(*results)]
        per_class = self.total_area_to_metrics(*areas, self.metrics,
                                               self.nan_to_num, self.beta)
        classes = self.dataset_meta['classes']
        fg = [i for i in range(len(classes)) if i != self.background_index]
        for key, values in per_class.items():
            if key not in _NAMES:
                continue
            values = np.asarray(values, dtype=np.float64) * 100
            name = _NAMES[key]
            for i, cls in enumerate(classes):
                metrics[f'{name}.{cls}'] = round(float(values[i]), 2)
            finite = values[fg][np.isfinite(values[fg])]
            if fg:
                # NaN (e.g. PPV with no predicted pixel) is left out
                metrics[f'fg{name}'] = round(float(finite.mean()), 2) \
                    if finite.size else float('nan')
        return metrics
