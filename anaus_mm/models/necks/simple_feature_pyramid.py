"""ViTDet-style simple feature pyramid from the last ViT block.

Exploring Plain Vision Transformer Backbones for Object Detection
(https://arxiv.org/abs/2203.16527), used by ANAUS
(https://arxiv.org/abs/2605.25402) to give a ViT-B four scales. Feed it an
mmpretrain ``VisionTransformer`` with ``out_type='featmap'``. The channel
LayerNorms are mmpretrain's ``LayerNorm2d`` (``nn.LayerNorm`` over C of a
``(B, C, H, W)`` map, eps 1e-5, parameters ``weight`` / ``bias``: the same
numerics and state-dict keys as the project's former copy).
"""
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.models.utils import LayerNorm2d
from mmpretrain.registry import MODELS


def check_num_levels(inputs: Sequence, needed: int, neck: str) -> Sequence:
    """Fail with the numbers when the backbone gives too few levels.

    Args:
        inputs (Sequence): The backbone's outputs (a single map is wrapped
            in a list).
        needed (int): The number of levels the neck needs.
        neck (str): The neck's name, used in the error message.

    Returns:
        Sequence: ``inputs`` as a list or tuple.

    Raises:
        ValueError: If there are fewer than ``needed`` levels.
    """
    if not isinstance(inputs, (list, tuple)):
        inputs = [inputs]
    if len(inputs) < needed:
        raise ValueError(
            f'{neck} needs {needed} feature level(s) from the backbone but '
            f'got {len(inputs)}: set the backbone out_indices to give '
            f'{needed} levels (e.g. out_indices=(0, 1, 2, 3) for ResNet)')
    return inputs


@MODELS.register_module()
class SimpleFeaturePyramid(BaseModule):
    """Up-sample (2×2 transposed convs) / down-sample (max pool) the last
    stride-16 map into one map per scale factor, then 1×1 + 3×3 convs.

    Args:
        in_channels (int): Channels of the ViT feature map (ViT-B: 768).
        out_channels (int): Channels of every output level.
        scale_factors (tuple[float]): Per output level, relative to the
            input stride; (4, 2, 1, 0.5) gives strides 4, 8, 16, 32.
        init_cfg (dict | List[dict], optional): Weight initialisation
            config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int = 768,
                 out_channels: int = 256,
                 scale_factors: Sequence[float] = (4.0, 2.0, 1.0, 0.5),
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = in_channels
        self.scale_factors = tuple(scale_factors)
        self.num_levels = len(self.scale_factors)
        self.num_inputs = 1  # only the last block is used
        self.stages = nn.ModuleList()
        for scale in self.scale_factors:
            dim = in_channels
            if scale == 4.0:
                layers = [nn.ConvTranspose2d(dim, dim // 2, 2, stride=2),
                          LayerNorm2d(dim // 2), nn.GELU(),
                          nn.ConvTranspose2d(dim // 2, dim // 4, 2, stride=2)]
                dim = dim // 4
            elif scale == 2.0:
                layers = [nn.ConvTranspose2d(dim, dim // 2, 2, stride=2)]
                dim = dim // 2
            elif scale == 1.0:
                layers = []
            elif scale == 0.5:
                layers = [nn.MaxPool2d(2, stride=2)]
            else:
                raise ValueError(f'unsupported scale factor {scale} '
                                 '(use 4, 2, 1 or 0.5)')
            layers += [nn.Conv2d(dim, out_channels, 1, bias=False),
                       LayerNorm2d(out_channels),
                       nn.Conv2d(out_channels, out_channels, 3, padding=1,
                                 bias=False),
                       LayerNorm2d(out_channels)]
            self.stages.append(nn.Sequential(*layers))

    def forward(
        self, inputs: Union[torch.Tensor, Sequence[torch.Tensor]]
    ) -> Tuple[torch.Tensor, ...]:
        """One map per scale factor from the last input map.

        Args:
            inputs (torch.Tensor | Sequence[torch.Tensor]): The backbone's
                outputs; the last is a ``(B, in_channels, h, w)`` map.

        Returns:
            Tuple[torch.Tensor, ...]: ``(B, out_channels, h·s, w·s)`` per
            scale factor ``s``.
        """
        x = check_num_levels(inputs, 1, 'SimpleFeaturePyramid')[-1]
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                'SimpleFeaturePyramid expects a (B, '
                f'{self.in_channels}, h, w) feature map (VisionTransformer '
                f"with out_type='featmap'), got shape {tuple(x.shape)}")
        return tuple(stage(x) for stage in self.stages)
