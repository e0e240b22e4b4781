"""Build SAM's parts from the ``segment-anything`` package at any input size.

``segment_anything.build_sam`` hard-codes a 1024×1024 input. LP-SAM runs
ultrasound at 256×256 (configurable), so this module instantiates SAM's own
classes (:class:`ImageEncoderViT`, :class:`PromptEncoder`,
:class:`MaskDecoder`, :class:`TwoWayTransformer`) with the requested
``img_size``; nothing of the package is copied or modified.

Reference: Kirillov et al., *Segment Anything*, https://arxiv.org/abs/2304.02643
"""
from functools import partial
from typing import Any, Dict, Mapping, Tuple, Union

import torch.nn as nn
from segment_anything.modeling import (ImageEncoderViT, MaskDecoder,
                                       PromptEncoder, TwoWayTransformer)

__all__ = ['SAM_ARCHS', 'get_sam_arch', 'build_sam_parts']

#: Architecture presets. ``vit_b/l/h`` are the official SAM encoders;
#: ``mini`` is the architecture of the simulated SAM stand-in, ``tiny`` a
#: small test architecture (seconds on a CPU).
SAM_ARCHS = {
    'vit_b': dict(embed_dim=768, depth=12, num_heads=12,
                  global_attn_indexes=(2, 5, 8, 11), window_size=14,
                  prompt_embed_dim=256, decoder_mlp_dim=2048,
                  decoder_heads=8, decoder_depth=2, iou_head_hidden_dim=256,
                  mask_in_chans=16),
    'vit_l': dict(embed_dim=1024, depth=24, num_heads=16,
                  global_attn_indexes=(5, 11, 17, 23), window_size=14,
                  prompt_embed_dim=256, decoder_mlp_dim=2048,
                  decoder_heads=8, decoder_depth=2, iou_head_hidden_dim=256,
                  mask_in_chans=16),
    'vit_h': dict(embed_dim=1280, depth=32, num_heads=16,
                  global_attn_indexes=(7, 15, 23, 31), window_size=14,
                  prompt_embed_dim=256, decoder_mlp_dim=2048,
                  decoder_heads=8, decoder_depth=2, iou_head_hidden_dim=256,
                  mask_in_chans=16),
    # the simulated SAM stand-in (configs/lpsam/README.md): 1.3 M
    # parameters, trains on 2 CPU cores in minutes at 128 px
    'mini': dict(embed_dim=128, depth=4, num_heads=4,
                 global_attn_indexes=(1, 3), window_size=4,
                 prompt_embed_dim=64, decoder_mlp_dim=256, decoder_heads=4,
                 decoder_depth=2, iou_head_hidden_dim=64, mask_in_chans=8),
    'tiny': dict(embed_dim=64, depth=2, num_heads=2,
                 global_attn_indexes=(1, ), window_size=2,
                 prompt_embed_dim=32, decoder_mlp_dim=64, decoder_heads=2,
                 decoder_depth=2, iou_head_hidden_dim=32, mask_in_chans=4),
}

PATCH_SIZE = 16


def get_sam_arch(arch: Union[str, Mapping[str, Any]]) -> Dict[str, Any]:
    """Return the settings of ``arch`` (a preset name or a full dict).

    Args:
        arch (str | dict): a key of :data:`SAM_ARCHS` or a dict with all of
            its keys.

    Returns:
        dict: a copy of the settings.

    Raises:
        ValueError: An unknown preset name or a dict that lacks keys.
    """
    if isinstance(arch, str):
        if arch not in SAM_ARCHS:
            raise ValueError(f'unknown SAM arch "{arch}"; choose one of '
                             f'{sorted(SAM_ARCHS)} or pass a dict')
        return dict(SAM_ARCHS[arch])
    arch = dict(arch)
    missing = set(SAM_ARCHS['vit_b']) - set(arch)
    if missing:
        raise ValueError(f'custom SAM arch lacks keys {sorted(missing)}')
    return arch


def build_sam_parts(
    arch: Union[str, Mapping[str, Any]] = 'vit_b',
    img_size: int = 256
) -> Tuple[ImageEncoderViT, PromptEncoder, MaskDecoder, Dict[str, Any]]:
    """Build SAM's image encoder, prompt encoder and mask decoder.

    Args:
        arch (str | dict): ``'vit_b'``, ``'vit_l'``, ``'vit_h'``, ``'tiny'``
            or a dict with the keys of :data:`SAM_ARCHS`.
        img_size (int): square input size, a multiple of 16.

    Returns:
        tuple: ``(image_encoder, prompt_encoder, mask_decoder, arch_dict)``.
    """
    a = get_sam_arch(arch)
    if img_size % PATCH_SIZE:
        raise ValueError(f'img_size must be a multiple of {PATCH_SIZE}, '
                         f'got {img_size}')
    grid = img_size // PATCH_SIZE
    image_encoder = ImageEncoderViT(
        img_size=img_size,
        patch_size=PATCH_SIZE,
        embed_dim=a['embed_dim'],
        depth=a['depth'],
        num_heads=a['num_heads'],
        mlp_ratio=4,
        out_chans=a['prompt_embed_dim'],
        qkv_bias=True,
        norm_layer=partial(nn.LayerNorm, eps=1e-6),
        use_rel_pos=True,
        global_attn_indexes=tuple(a['global_attn_indexes']),
        window_size=a['window_size'])
    prompt_encoder = PromptEncoder(
        embed_dim=a['prompt_embed_dim'],
        image_embedding_size=(grid, grid),
        input_image_size=(img_size, img_size),
        mask_in_chans=a['mask_in_chans'])
    mask_decoder = MaskDecoder(
        num_multimask_outputs=3,
        transformer=TwoWayTransformer(
            depth=a['decoder_depth'],
            embedding_dim=a['prompt_embed_dim'],
            mlp_dim=a['decoder_mlp_dim'],
            num_heads=a['decoder_heads']),
        transformer_dim=a['prompt_embed_dim'],
        iou_head_depth=3,
        iou_head_hidden_dim=a['iou_head_hidden_dim'])
    return image_encoder, prompt_encoder, mask_decoder, a
