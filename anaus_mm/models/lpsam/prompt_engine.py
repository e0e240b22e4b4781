"""LP-SAM stage 2: the latent prompt engine (LPE).

Replaces manual prompts with learnable ones (method.md §1, stage 2). Per
anatomy class it holds ``T`` prompt tokens (paper: 2, 256-d). ``N`` two-way
alignment blocks (paper: 4, 8 heads) refine them against the image:

1. image tokens (SAM embedding + dense positional encoding) attend to a small
   CNN embedding of the raw image;
2. prompt tokens attend to the image tokens, then image tokens attend to the
   prompt tokens; each step is attention → residual → LayerNorm → MLP
   (→ residual → LayerNorm);

and a final prompt → image attention (as in SAM's two-way transformer)
reads the image tokens of the last block.

The refined tokens of class *c* become SAM's sparse prompt embeddings.

**Design note.** The prompt sets of all classes are refined in one pass
(``C·T`` prompt tokens per image): prompts attend only to image tokens, not
to each other, so a class's tokens depend on the image (and, through the
image tokens' attention to prompts, weakly on the other classes). This costs
one LPE pass per image instead of one per (image, class).
"""
from typing import Sequence, Tuple

import torch
import torch.nn as nn
from segment_anything.modeling.common import LayerNorm2d

__all__ = ['AlignmentBlock', 'LatentPromptEngine']


class _MLP(nn.Sequential):

    def __init__(self, dim, hidden):
        super().__init__(nn.Linear(dim, hidden), nn.GELU(),
                         nn.Linear(hidden, dim))


class AlignmentBlock(nn.Module):
    """One two-way alignment block of the LPE.

    Args:
        dim (int): token width (SAM's prompt embedding dim).
        num_heads (int): attention heads.
        prompt_mlp_dim (int): hidden width of the prompt-token MLP.
        image_mlp_dim (int): hidden width of the image-token MLP.
    """

    def __init__(self, dim: int, num_heads: int, prompt_mlp_dim: int,
                 image_mlp_dim: int) -> None:
        super().__init__()

        def attn():
            return nn.MultiheadAttention(dim, num_heads, batch_first=True)

        self.img_to_cnn = attn()
        self.norm_ic = nn.LayerNorm(dim)
        self.prompt_to_img = attn()
        self.norm_pi = nn.LayerNorm(dim)
        self.prompt_mlp = _MLP(dim, prompt_mlp_dim)
        self.norm_pm = nn.LayerNorm(dim)
        self.img_to_prompt = attn()
        self.norm_ip = nn.LayerNorm(dim)
        self.image_mlp = _MLP(dim, image_mlp_dim)
        self.norm_im = nn.LayerNorm(dim)

    def forward(self, prompts: torch.Tensor, img: torch.Tensor,
                img_pe: torch.Tensor,
                cnn: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Refine the prompt and image tokens once.

        Args:
            prompts (Tensor): prompt tokens (B, P, D).
            img (Tensor): image tokens (B, N, D).
            img_pe (Tensor): positional encoding of the image tokens
                (B, N, D).
            cnn (Tensor): CNN tokens of the raw image (B, N, D).

        Returns:
            Tuple[Tensor, Tensor]: the refined prompts (B, P, D) and image
            tokens (B, N, D).
        """
        q = img + img_pe
        img = self.norm_ic(
            img + self.img_to_cnn(q, cnn, cnn, need_weights=False)[0])
        k = img + img_pe
        prompts = self.norm_pi(
            prompts + self.prompt_to_img(prompts, k, img,
                                         need_weights=False)[0])
        prompts = self.norm_pm(prompts + self.prompt_mlp(prompts))
        img = self.norm_ip(img + self.img_to_prompt(
            img + img_pe, prompts, prompts, need_weights=False)[0])
        img = self.norm_im(img + self.image_mlp(img))
        return prompts, img


class LatentPromptEngine(nn.Module):
    """Per-class learnable prompts refined against the image.

    Args:
        num_classes (int): anatomy classes ``C`` (foreground ids 1..C).
        embed_dim (int): SAM prompt embedding width (256).
        num_tokens (int): prompt tokens per class ``T`` (2).
        depth (int): alignment blocks ``N`` (4).
        num_heads (int): attention heads (8).
        prompt_mlp_dim (int): hidden width of the prompt MLPs.
        image_mlp_dim (int): hidden width of the image MLPs.
        cnn_channels (Sequence[int]): widths of the 4 stride-2 convs of the
            raw-image CNN embedding (the last is projected to ``embed_dim``).
    """

    def __init__(self, num_classes: int, embed_dim: int = 256,
                 num_tokens: int = 2, depth: int = 4, num_heads: int = 8,
                 prompt_mlp_dim: int = 1024, image_mlp_dim: int = 512,
                 cnn_channels: Sequence[int] = (32, 64, 128, 256)) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.num_tokens = num_tokens
        self.prompt_tokens = nn.Parameter(
            torch.randn(num_classes, num_tokens, embed_dim) * 0.02)
        layers, prev = [], 3
        for ch in cnn_channels:
            layers += [nn.Conv2d(prev, ch, 3, stride=2, padding=1,
                                 bias=False), LayerNorm2d(ch), nn.GELU()]
            prev = ch
        layers.append(nn.Conv2d(prev, embed_dim, 1))
        self.cnn_embed = nn.Sequential(*layers)
        self.blocks = nn.ModuleList(
            AlignmentBlock(embed_dim, num_heads, prompt_mlp_dim,
                           image_mlp_dim) for _ in range(depth))
        self.final_attn = nn.MultiheadAttention(embed_dim, num_heads,
                                                batch_first=True)
        self.norm_out = nn.LayerNorm(embed_dim)

    def forward(self, image_embeddings: torch.Tensor,
                image_pe: torch.Tensor,
                images: torch.Tensor) -> torch.Tensor:
        """Return sparse prompt embeddings of shape (B, C, T, D).

        Args:
            image_embeddings (Tensor): SAM image embeddings (B, D, h, w).
            image_pe (Tensor): dense positional encoding (1, D, h, w).
            images (Tensor): normalised raw images (B, 3, S, S).

        Returns:
            Tensor: the refined prompt tokens of every class (B, C, T, D).
        """
        b, d, h, w = image_embeddings.shape
        cnn = self.cnn_embed(images)
        if cnn.shape[-2:] != (h, w):
            cnn = nn.functional.interpolate(cnn, size=(h, w),
                                            mode='bilinear',
                                            align_corners=False)
        pe = image_pe.flatten(2).transpose(1, 2).expand(b, -1, -1)
        cnn = cnn.flatten(2).transpose(1, 2) + pe
        img = image_embeddings.flatten(2).transpose(1, 2)
        prompts = self.prompt_tokens.reshape(1, -1, d).expand(b, -1, -1)
        for blk in self.blocks:
            prompts, img = blk(prompts, img, pe, cnn)
        # a last prompt → image attention reads the final image tokens
        prompts = self.norm_out(prompts + self.final_attn(
            prompts, img + pe, img, need_weights=False)[0])
        return prompts.reshape(b, self.num_classes, self.num_tokens, d)
