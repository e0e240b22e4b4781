"""LP-SAM checkpoint loading: official 1024 layout → 256, wrong arch."""
import pytest
import torch

from anaus_mm.models.lpsam import LPSAM
from anaus_mm.models.lpsam.checkpoint import resize_sam_encoder_state
from anaus_mm.models.lpsam.sam_builder import build_sam_parts


def official_state(arch, img_size, seed=0):
    """A random state dict in the official SAM layout at ``img_size``.

    Shapes come from SAM parts built on the meta device (no memory)."""
    with torch.device('meta'):
        parts = build_sam_parts(arch, img_size)[:3]
    g = torch.Generator().manual_seed(seed)
    state = {}
    for prefix, part in zip(('image_encoder.', 'prompt_encoder.',
                             'mask_decoder.'), parts):
        for k, v in part.state_dict().items():
            state[prefix + k] = torch.randn(v.shape, generator=g)
    return state


def test_vit_b_1024_checkpoint_loads_at_256(tmp_path):
    state = official_state('vit_b', 1024)
    assert state['image_encoder.pos_embed'].shape == (1, 64, 64, 768)
    assert state['image_encoder.blocks.2.attn.rel_pos_h'].shape == (127, 64)
    path = tmp_path / 'sam_vit_b_random.pth'
    torch.save(state, path)
    model = LPSAM(stage=1, arch='vit_b', img_size=256,
                  sam_checkpoint=str(path))
    missing, unexpected = model.sam_load_report
    assert missing == [] and unexpected == []
    enc = model.image_encoder
    assert enc.pos_embed.shape == (1, 16, 16, 768)
    for i in (2, 5, 8, 11):  # global blocks: 127 → 31
        assert enc.blocks[i].attn.rel_pos_h.shape == (31, 64)
    # windowed blocks are loaded unchanged (14x14 window: 27 rows)
    assert torch.equal(enc.blocks[0].attn.rel_pos_w,
                       state['image_encoder.blocks.0.attn.rel_pos_w'])
    assert torch.equal(enc.blocks[3].attn.qkv.weight,
                       state['image_encoder.blocks.3.attn.qkv.weight'])
    assert torch.equal(model.mask_decoder.iou_token.weight,
                       state['mask_decoder.iou_token.weight'])
    # a constant positional table stays constant after the bicubic resize
    small = {'pos_embed': torch.ones(1, 64, 64, 2)}
    resize_sam_encoder_state(small, '', 16, (2, ))
    assert torch.allclose(small['pos_embed'], torch.ones(1, 16, 16, 2))
    # ViT-B at 256: trainable counts near the paper's 13 M / 11.1 M
    assert 12.5e6 < model.num_trainable_parameters() < 13.5e6


def test_rel_pos_resized_by_index_not_name():
    state = {f'blocks.{i}.attn.rel_pos_h': torch.randn(127, 4)
             for i in range(3)}
    keys = resize_sam_encoder_state(state, '', 16, (1, ))
    assert keys == ['blocks.1.attn.rel_pos_h']
    assert state['blocks.0.attn.rel_pos_h'].shape == (127, 4)
    assert state['blocks.1.attn.rel_pos_h'].shape == (31, 4)
    # a linear ramp stays a ramp with the same ends
    ramp = {'blocks.0.attn.rel_pos_w': torch.linspace(0, 1, 127)[:, None]}
    resize_sam_encoder_state(ramp, '', 16, (0, ))
    out = ramp['blocks.0.attn.rel_pos_w'][:, 0]
    assert out.shape == (31, ) and torch.all(out[1:] > out[:-1])


def test_wrong_arch_checkpoint_is_a_clear_error(tmp_path):
    custom = dict(build_sam_parts('tiny', 64)[3], embed_dim=32)
    path = tmp_path / 'other_arch.pth'
    torch.save(official_state(custom, 64), path)
    with pytest.raises(ValueError) as e:
        LPSAM(arch='tiny', img_size=64, sam_checkpoint=str(path))
    msg = str(e.value)
    assert str(path) in msg and 'image_encoder.' in msg
    assert '32' in msg and '64' in msg and 'shape' in msg
    # a file without any SAM key is refused too
    torch.save({'foo': torch.zeros(1)}, path)
    with pytest.raises(ValueError, match='shares no key'):
        LPSAM(arch='tiny', img_size=64, sam_checkpoint=str(path))
    with pytest.raises(FileNotFoundError):
        LPSAM(arch='tiny', img_size=64,
              sam_checkpoint=str(tmp_path / 'none.pth'))
