"""LP-SAM stage 1: ultrasound domain adapters around SAM's frozen ViT.

Three trainable parts (method.md §1, stage 1):

* a bottleneck adapter on the patch tokens (after the patch embedding);
* a parallel MLP adapter in every block, ``C → C/4 → C`` (768→192→768 for
  ViT-B) scaled by 0.5, fed with the block's ``norm2`` output and added next
  to SAM's MLP;
* a light CNN branch (conv → LayerNorm2d → GELU, a stride-2 stem and three
  stride-2 downs to the token grid) fused into the ViT tokens by
  cross-attention after each global-attention block.

SAM's modules are untouched: :meth:`SAMAdapters.forward` runs the encoder by
calling its pieces (``patch_embed``, ``blocks[i].norm1/attn/norm2/mlp``,
``neck``) and the package's own ``window_partition``/``window_unpartition``.
All up-projections are zero-initialised, so an untrained adapter set leaves
SAM's output unchanged.
"""
from typing import Optional, Sequence

import torch
import torch.nn as nn
from segment_anything.modeling.common import LayerNorm2d
from segment_anything.modeling.image_encoder import (window_partition,
                                                     window_unpartition)

__all__ = ['BottleneckAdapter', 'LightCNNBranch', 'CrossAttentionFusion',
           'SAMAdapters']


class BottleneckAdapter(nn.Module):
    """``x → Linear(C, h) → GELU → Linear(h, C)`` (zero-initialised out).

    Args:
        dim (int): input and output width ``C``.
        hidden_dim (int): bottleneck width ``h``.
    """

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.down = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.up = nn.Linear(hidden_dim, dim)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the adapter.

        Args:
            x (Tensor): tokens (..., C).

        Returns:
            Tensor: the adapter's output (..., C), zero when untrained.
        """
        return self.up(self.act(self.down(x)))


def _conv_ln_gelu(in_ch, out_ch, stride):
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False),
        LayerNorm2d(out_ch), nn.GELU())


class LightCNNBranch(nn.Module):
    """A stride-2 stem then three stride-2 downs: total stride 16.

    Args:
        channels (Sequence[int]): output channels of the stem and the three
            downs; the last is the width of the CNN tokens.
        in_channels (int): channels of the input images.
    """

    def __init__(self, channels: Sequence[int] = (64, 128, 256, 512),
                 in_channels: int = 3) -> None:
        super().__init__()
        assert len(channels) == 4, 'stem + three downs'
        layers, prev = [], in_channels
        for ch in channels:
            layers.append(_conv_ln_gelu(prev, ch, 2))
            prev = ch
        self.layers = nn.Sequential(*layers)
        self.out_channels = prev

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the branch.

        Args:
            x (Tensor): images (B, in_channels, H, W).

        Returns:
            Tensor: features (B, channels[-1], H/16, W/16).
        """
        return self.layers(x)


class CrossAttentionFusion(nn.Module):
    """ViT tokens (query) attend to the CNN tokens (key/value), residual.

    Args:
        dim (int): width of the ViT tokens.
        cnn_dim (int): width of the CNN tokens.
        num_heads (int): attention heads.
    """

    def __init__(self, dim: int, cnn_dim: int, num_heads: int) -> None:
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(cnn_dim)
        self.attn = nn.MultiheadAttention(dim, num_heads, kdim=cnn_dim,
                                          vdim=cnn_dim, batch_first=True)
        nn.init.zeros_(self.attn.out_proj.weight)
        nn.init.zeros_(self.attn.out_proj.bias)

    def forward(self, x: torch.Tensor,
                cnn_tokens: torch.Tensor) -> torch.Tensor:
        """Fuse the CNN tokens into the ViT tokens.

        Args:
            x (Tensor): ViT tokens (B, H, W, C).
            cnn_tokens (Tensor): CNN tokens (B, N, C_cnn).

        Returns:
            Tensor: ``x`` plus the attention output, (B, H, W, C).
        """
        b, h, w, c = x.shape
        q = self.norm_q(x.reshape(b, h * w, c))
        kv = self.norm_kv(cnn_tokens)
        out, _ = self.attn(q, kv, kv, need_weights=False)
        return x + out.reshape(b, h, w, c)


class SAMAdapters(nn.Module):
    """The stage-1 adapter set of one SAM ``ImageEncoderViT``.

    Args:
        embed_dim (int): ViT width.
        depth (int): number of ViT blocks.
        num_heads (int): heads of the fusion cross-attention.
        global_attn_indexes (Sequence[int]): blocks after which the CNN
            tokens are fused.
        adapter_ratio (float): hidden width of the adapters / ``embed_dim``
            (0.25: 768→192→768).
        mlp_adapter_scale (float): scale of the parallel MLP adapters.
        cnn_channels (Sequence[int], optional): widths of the CNN branch;
            default ``(64, 128, 256, 512)`` (ViT-B/L/H) or ``(8, 16, 32,
            embed_dim)`` for narrow test encoders.
    """

    def __init__(self, embed_dim: int, depth: int, num_heads: int,
                 global_attn_indexes: Sequence[int],
                 adapter_ratio: float = 0.25,
                 mlp_adapter_scale: float = 0.5,
                 cnn_channels: Optional[Sequence[int]] = None) -> None:
        super().__init__()
        hidden = max(1, int(embed_dim * adapter_ratio))
        if cnn_channels is None:
            cnn_channels = (64, 128, 256, 512) if embed_dim >= 512 else \
                (8, 16, 32, embed_dim)
        self.global_attn_indexes = tuple(global_attn_indexes)
        self.mlp_adapter_scale = mlp_adapter_scale
        self.patch_adapter = BottleneckAdapter(embed_dim, hidden)
        self.mlp_adapters = nn.ModuleList(
            BottleneckAdapter(embed_dim, hidden) for _ in range(depth))
        self.cnn_branch = LightCNNBranch(cnn_channels)
        self.fusions = nn.ModuleList(
            CrossAttentionFusion(embed_dim, self.cnn_branch.out_channels,
                                 num_heads)
            for _ in self.global_attn_indexes)

    def _block(self, blk, x, adapter):
        """SAM's ``Block.forward`` with a parallel MLP adapter."""
        shortcut = x
        y = blk.norm1(x)
        if blk.window_size > 0:
            h, w = y.shape[1], y.shape[2]
            y, pad_hw = window_partition(y, blk.window_size)
        y = blk.attn(y)
        if blk.window_size > 0:
            y = window_unpartition(y, blk.window_size, pad_hw, (h, w))
        x = shortcut + y
        n = blk.norm2(x)
        return x + blk.mlp(n) + self.mlp_adapter_scale * adapter(n)

    def forward(self, encoder: nn.Module,
                images: torch.Tensor) -> torch.Tensor:
        """Run ``encoder`` (SAM's ``ImageEncoderViT``) with the adapters.

        Args:
            encoder (nn.Module): the frozen SAM image encoder.
            images (Tensor): normalised images (B, 3, S, S).

        Returns:
            Tensor: image embeddings (B, out_chans, S/16, S/16).
        """
        x = encoder.patch_embed(images)
        if encoder.pos_embed is not None:
            x = x + encoder.pos_embed
        x = x + self.patch_adapter(x)
        cnn = self.cnn_branch(images)
        if cnn.shape[-2:] != x.shape[1:3]:
            cnn = nn.functional.interpolate(cnn, size=x.shape[1:3],
                                            mode='bilinear',
                                            align_corners=False)
        cnn_tokens = cnn.flatten(2).transpose(1, 2)
        fusion_of = {i: k for k, i in enumerate(self.global_attn_indexes)}
        for i, blk in enumerate(encoder.blocks):
            x = self._block(blk, x, self.mlp_adapters[i])
            if i in fusion_of:
                x = self.fusions[fusion_of[i]](x, cnn_tokens)
        return encoder.neck(x.permute(0, 3, 1, 2))
