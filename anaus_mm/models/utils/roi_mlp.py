"""Projector / predictor MLP applied to anatomy ROI vectors."""
from typing import List, Optional, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from mmpretrain.registry import MODELS


@MODELS.register_module()
class RoIMLP(BaseModule):
    """Linear–BN–ReLU–Linear on (B, K, C) ROI vectors.

    ANAUS (https://arxiv.org/abs/2605.25402): projector 1024 → 256 hidden/out,
    predictor 4096 → 256. Only valid ROIs (ids present in the view at that
    scale) go through, so absent ROIs never enter the BatchNorm statistics;
    their outputs are zeros and the losses mask them out. With fewer than
    two valid ROIs in the batch (BatchNorm needs two) every ROI goes through.

    Args:
        in_channels (int): Channels of the ROI vectors. Defaults to 256.
        hid_channels (int): Hidden channels. Defaults to 1024.
        out_channels (int): Output channels. Defaults to 256.
        init_cfg (dict | List[dict], optional): Weight initialisation
            config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int = 256,
                 hid_channels: int = 1024,
                 out_channels: int = 256,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.mlp = nn.Sequential(
            nn.Linear(in_channels, hid_channels, bias=False),
            nn.BatchNorm1d(hid_channels), nn.ReLU(inplace=True),
            nn.Linear(hid_channels, out_channels))

    def forward(self,
                x: torch.Tensor,
                valid: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Apply the MLP to the valid ROIs.

        Args:
            x (torch.Tensor): ``(B, K, C)`` ROI vectors.
            valid (torch.Tensor, optional): ``(B, K)`` bool mask of the
                present ROIs; None: all.

        Returns:
            torch.Tensor: ``(B, K, out_channels)``, zeros for invalid ROIs
            (unless fewer than two are valid).
        """
        b, k, c = x.shape
        flat = x.reshape(b * k, c)
        if valid is None or int(valid.sum()) < 2:
            return self.mlp(flat).reshape(b, k, -1)
        keep = valid.reshape(-1)
        out = self.mlp(flat[keep])
        full = torch.zeros(b * k, out.shape[1], dtype=out.dtype,
                           device=out.device)
        return full.index_put((keep.nonzero(as_tuple=True)[0], ),
                              out).reshape(b, k, -1)
