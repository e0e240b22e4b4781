"""Feature pyramid over ResNet stages C2–C5 for ANAUS.

ANAUS (https://arxiv.org/abs/2605.25402) pools anatomy ROIs at S = 4 scales
(grids 56, 28, 14, 7 at 224 input). mmpretrain has no FPN, hence this one
(FPN: https://arxiv.org/abs/1612.03144).
"""
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmpretrain.registry import MODELS


def check_num_levels(inputs, needed, neck):
    """Fail with the numbers when the backbone gives too few levels."""
    if not isinstance(inputs, (list, tuple)):
        inputs = [inputs]
    if len(inputs) < needed:
        raise ValueError(
            f'{neck} needs {needed} feature level(s) from the backbone but '
            f'got {len(inputs)}: set the backbone out_indices to give '
            f'{needed} levels (e.g. out_indices=(0, 1, 2, 3) for ResNet)')
    return inputs


@MODELS.register_module()
class AnatomyFPN(BaseModule):
    """Top-down FPN: 1×1 laterals, nearest up-sampling + sum, 3×3 outputs.

    Args:
        in_channels (list[int]): Channels of the backbone levels, finest
            first (ResNet-18: [64, 128, 256, 512]; ResNet-50: ×4).
        out_channels (int): Channels of every output level.
        init_cfg (dict, optional): Initialization config.

    Returns (forward): tuple of ``len(in_channels)`` maps, finest first.
    """

    def __init__(self, in_channels=(64, 128, 256, 512), out_channels=256,
                 init_cfg=dict(type='Xavier', layer='Conv2d',
                               distribution='uniform')):
        super().__init__(init_cfg=init_cfg)
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.num_levels = len(self.in_channels)
        self.num_inputs = self.num_levels  # backbone levels needed
        self.lateral_convs = nn.ModuleList(
            nn.Conv2d(c, out_channels, 1) for c in self.in_channels)
        self.fpn_convs = nn.ModuleList(
            nn.Conv2d(out_channels, out_channels, 3, padding=1)
            for _ in self.in_channels)

    def forward(self, inputs):
        inputs = check_num_levels(inputs, self.num_levels, 'AnatomyFPN')
        inputs = inputs[-self.num_levels:]
        for i, (x, c) in enumerate(zip(inputs, self.in_channels)):
            if x.shape[1] != c:
                raise ValueError(f'AnatomyFPN level {i} expects {c} channels '
                                 f'(in_channels={self.in_channels}) but the '
                                 f'backbone gives {x.shape[1]}')
        laterals = [conv(x) for conv, x in zip(self.lateral_convs, inputs)]
        for i in range(self.num_levels - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + F.interpolate(
                laterals[i], size=laterals[i - 1].shape[-2:], mode='nearest')
        return tuple(conv(x) for conv, x in zip(self.fpn_convs, laterals))
