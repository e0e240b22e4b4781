"""Models-Genesis-style corruptions of the core view, as batched tensor ops.

ANAUS (https://arxiv.org/abs/2605.25402), method.md §2 "Core region": local
pixel shuffling (p 0.8, blocks ≈ H/20), Bézier non-linear intensity remap
(p 0.9), each decided per sample, and in-painting (Models Genesis' rule: up
to 10 rectangles of H/10–H/5 filled with noise, drawn one after another
while a p 0.95 draw succeeds, ≈ 7.6 on average). Inputs are float images in [0, 1] of shape
(B, C, H, W) on any device; every op returns a new tensor (the clean core
view is never modified in place). Randomness comes from the torch RNG of the
input's device (seeded by ``torch.manual_seed`` / mmengine's ``randomness``)
or from an explicit ``torch.Generator``.
"""
from typing import Optional, Tuple

import torch

__all__ = ['local_pixel_shuffle', 'bezier_intensity_remap', 'inpaint_noise',
           'corrupt_core']


def _rand(shape, like, generator=None):
    return torch.rand(shape, device=like.device, dtype=torch.float32,
                      generator=generator)


def _randint(low, high, shape, like, generator=None):
    return torch.randint(low, high, shape, device=like.device,
                         generator=generator)


def _apply(prob, like, generator=None):
    """Per-sample Bernoulli decision, shape (B, 1, 1, 1)."""
    return (_rand((like.shape[0], ), like, generator) < prob).view(-1, 1, 1, 1)


def local_pixel_shuffle(img: torch.Tensor,
                        prob: float = 0.8,
                        block_frac: float = 1 / 20,
                        shuffle_ratio: float = 0.5,
                        generator: Optional[torch.Generator] = None
                        ) -> torch.Tensor:
    """Shuffle pixels inside square blocks of side ≈ ``block_frac`` × H.

    The image is tiled into blocks; a random ``shuffle_ratio`` of them get
    their pixels permuted (the same permutation for all channels). Tiles that
    do not fit at the border stay unchanged.

    Args:
        img (torch.Tensor): Images in [0, 1], (B, C, H, W). Not modified.
        prob (float): Per-sample probability of shuffling. Defaults to 0.8.
        block_frac (float): Block side as a fraction of H (at least 2
            pixels). Defaults to 1/20.
        shuffle_ratio (float): Share of the blocks shuffled. Defaults to 0.5.
        generator (torch.Generator, optional): RNG; default: the torch RNG
            of ``img``'s device.

    Returns:
        torch.Tensor: A new tensor, same shape, dtype and device.
    """
    b, c, h, w = img.shape
    s = max(2, int(round(h * block_frac)))
    nh, nw = h // s, w // s
    if nh == 0 or nw == 0:
        return img.clone()
    region = img[:, :, :nh * s, :nw * s]
    blocks = region.reshape(b, c, nh, s, nw, s).permute(0, 1, 2, 4, 3, 5)
    blocks = blocks.reshape(b, c, nh * nw, s * s)
    perm = _rand((b, nh * nw, s * s), img, generator).argsort(-1)
    chosen = _rand((b, nh * nw, 1), img, generator) < shuffle_ratio
    identity = torch.arange(s * s, device=img.device).expand_as(perm)
    perm = torch.where(chosen, perm, identity)
    shuffled = blocks.gather(-1, perm.unsqueeze(1).expand(b, c, -1, -1))
    shuffled = shuffled.reshape(b, c, nh, nw, s, s).permute(0, 1, 2, 4, 3, 5)
    out = img.clone()
    out[:, :, :nh * s, :nw * s] = shuffled.reshape(b, c, nh * s, nw * s)
    return torch.where(_apply(prob, img, generator), out, img)


def bezier_intensity_remap(img: torch.Tensor,
                           prob: float = 0.9,
                           num_points: int = 256,
                           generator: Optional[torch.Generator] = None
                           ) -> torch.Tensor:
    """Non-linear intensity remap by a random cubic Bézier curve.

    Endpoints (0, 0) and (1, 1) (swapped to a decreasing curve for half of
    the samples), two random control points in [0, 1]². The curve is sampled
    at ``num_points`` values of t, sorted by x, and every pixel is mapped by
    linear interpolation (``torch.searchsorted``).

    Args:
        img (torch.Tensor): Images in [0, 1], (B, C, H, W). Not modified.
        prob (float): Per-sample probability of the remap. Defaults to 0.9.
        num_points (int): Samples of the curve. Defaults to 256.
        generator (torch.Generator, optional): RNG; default: the torch RNG
            of ``img``'s device.

    Returns:
        torch.Tensor: A new tensor, same shape, dtype and device.
    """
    b = img.shape[0]
    t = torch.linspace(0, 1, num_points, device=img.device).view(1, -1)
    ctrl = _rand((b, 2, 2), img, generator)  # (B, point, xy)
    coef = torch.stack([(1 - t)**3, 3 * t * (1 - t)**2, 3 * t**2 * (1 - t),
                        t**3])  # (4, 1, N)
    x = coef[1] * ctrl[:, 0, :1] + coef[2] * ctrl[:, 1, :1] + coef[3]
    y = coef[1] * ctrl[:, 0, 1:] + coef[2] * ctrl[:, 1, 1:] + coef[3]
    x, order = x.sort(dim=-1)
    y = y.gather(-1, order)
    decreasing = (_rand((b, 1), img, generator) < 0.5)
    y = torch.where(decreasing, 1 - y, y)
    flat = img.reshape(b, -1).clamp(0, 1).contiguous()
    idx = torch.searchsorted(x.contiguous(), flat).clamp(1, num_points - 1)
    x0, x1 = x.gather(-1, idx - 1), x.gather(-1, idx)
    y0, y1 = y.gather(-1, idx - 1), y.gather(-1, idx)
    frac = ((flat - x0) / (x1 - x0).clamp_min(1e-6)).clamp(0, 1)
    out = (y0 + frac * (y1 - y0)).reshape(img.shape).to(img.dtype)
    return torch.where(_apply(prob, img, generator), out, img)


def inpaint_noise(img: torch.Tensor, prob: float = 0.95, max_rects: int = 10,
                  size_range: Tuple[float, float] = (0.1, 0.2),
                  generator: Optional[torch.Generator] = None
                  ) -> torch.Tensor:
    """Fill up to ``max_rects`` rectangles of side ``size_range`` × H/W
    with uniform noise (one noise value per pixel, shared by the channels).

    Models Genesis' rule: rectangles are added one after another while a
    Bernoulli(``prob``) draw succeeds, at most ``max_rects``; the number of
    rectangles is the number of leading successes (expected
    ``sum(prob**k, k=1..max_rects)``, ≈ 7.6 for 0.95 and 10; none with
    probability ``1 - prob``).

    Args:
        img (torch.Tensor): Images in [0, 1], (B, C, H, W). Not modified.
        prob (float): Probability of each further rectangle.
            Defaults to 0.95.
        max_rects (int): At most this many rectangles. Defaults to 10.
        size_range (Tuple[float, float]): Rectangle side as a fraction of
            H (height) and W (width). Defaults to (0.1, 0.2).
        generator (torch.Generator, optional): RNG; default: the torch RNG
            of ``img``'s device.

    Returns:
        torch.Tensor: A new tensor, same shape, dtype and device.
    """
    b, c, h, w = img.shape
    r = max_rects
    draws = _rand((b, r), img, generator) < prob
    active = draws.long().cumprod(dim=1).bool()  # leading successes
    lo, hi = size_range
    rh = (h * (lo + (hi - lo) * _rand((b, r), img, generator))).long()
    rw = (w * (lo + (hi - lo) * _rand((b, r), img, generator))).long()
    rh, rw = rh.clamp(1, h), rw.clamp(1, w)
    y0 = (_rand((b, r), img, generator) * (h - rh + 1)).long()
    x0 = (_rand((b, r), img, generator) * (w - rw + 1)).long()
    ys = torch.arange(h, device=img.device).view(1, 1, h, 1)
    xs = torch.arange(w, device=img.device).view(1, 1, 1, w)
    inside = ((ys >= y0[..., None, None]) & (ys < (y0 + rh)[..., None, None])
              & (xs >= x0[..., None, None]) & (xs < (x0 + rw)[..., None, None])
              & active[..., None, None])
    hole = inside.any(dim=1, keepdim=True)
    noise = _rand((b, 1, h, w), img, generator).to(img.dtype)
    return torch.where(hole, noise.expand_as(img), img)


def corrupt_core(img: torch.Tensor,
                 shuffle_prob: float = 0.8,
                 bezier_prob: float = 0.9,
                 inpaint_prob: float = 0.95,
                 block_frac: float = 1 / 20,
                 max_rects: int = 10,
                 size_range: Tuple[float, float] = (0.1, 0.2),
                 generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Apply the three corruptions in the Models-Genesis order.

    Args:
        img (torch.Tensor): Clean core views in [0, 1], (B, C, H, W). Not
            modified.
        shuffle_prob (float): ``prob`` of :func:`local_pixel_shuffle`.
        bezier_prob (float): ``prob`` of :func:`bezier_intensity_remap`.
        inpaint_prob (float): ``prob`` of :func:`inpaint_noise`.
        block_frac (float): Block side of the pixel shuffle, fraction of H.
        max_rects (int): At most this many in-painted rectangles.
        size_range (Tuple[float, float]): Side range of the rectangles.
        generator (torch.Generator, optional): RNG; default: the torch RNG
            of ``img``'s device.

    Returns:
        torch.Tensor: A new corrupted tensor, same shape, dtype and device.
    """
    out = local_pixel_shuffle(img, shuffle_prob, block_frac,
                              generator=generator)
    out = bezier_intensity_remap(out, bezier_prob, generator=generator)
    return inpaint_noise(out, inpaint_prob, max_rects, size_range,
                         generator=generator)
