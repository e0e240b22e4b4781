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


def _mmengine_checkpoint(state, path):
    """Save ``state`` as mmengine's Runner does: meta with the config text
    and numpy scalars, and the message hub's ``HistoryBuffer`` (needs the
    project's allow-list to read with ``weights_only=True``)."""
    import numpy as np
    from mmengine.logging import HistoryBuffer
    torch.save({'meta': {'cfg': "model = dict(type='LPSAM')",
                         'seed': np.int64(0), 'iter': 2},
                'state_dict': state,
                'message_hub': {'log_scalars': {
                    'train/loss': HistoryBuffer([1.0, 0.5], [1, 1])}}}, path)
    return str(path)


def test_lpsam_checkpoints_are_refused_as_sam_checkpoints(tmp_path):
    """A stage-1 or stage-2 file given as ``sam_checkpoint`` would load its
    SAM keys silently; it is refused, saying what it is and where it
    goes."""
    torch.manual_seed(0)
    s1 = LPSAM(stage=1, arch='tiny', img_size=64).state_dict()
    s2 = LPSAM(stage=2, num_classes=3, arch='tiny', img_size=64).state_dict()
    stage1 = _mmengine_checkpoint(s1, tmp_path / 'stage1.pth')
    stage2 = _mmengine_checkpoint(s2, tmp_path / 'stage2.pth')
    ddp = _mmengine_checkpoint({'module.' + k: v for k, v in s2.items()},
                               tmp_path / 'ddp.pth')
    for stage in (1, 2):
        with pytest.raises(ValueError) as e:
            LPSAM(stage=stage, arch='tiny', img_size=64,
                  sam_checkpoint=stage1)
        msg = str(e.value)
        assert '\n' not in msg and stage1 in msg
        assert 'is an LP-SAM stage-1 checkpoint' in msg
        assert 'stage1_checkpoint' in msg
    for path in (stage2, ddp):
        with pytest.raises(ValueError) as e:
            LPSAM(stage=1, arch='tiny', img_size=64, sam_checkpoint=path)
        msg = str(e.value)
        assert '\n' not in msg
        assert 'is an LP-SAM stage-2 checkpoint' in msg and '3 classes' in msg
        assert 'load_from' in msg
    # an mmengine checkpoint of SAM's keys only (a stand-in saved by the
    # Runner) still loads, through the allow-list, weights only
    sam = {k: v for k, v in s1.items() if not k.startswith('adapters.')}
    standin = _mmengine_checkpoint(sam, tmp_path / 'standin.pth')
    model = LPSAM(stage=1, arch='tiny', img_size=64, sam_checkpoint=standin)
    assert model.sam_load_report == ([], [])
    assert torch.equal(model.image_encoder.pos_embed,
                       sam['image_encoder.pos_embed'])


def test_stage1_loader_refuses_sam_and_stage2_files(tmp_path):
    """``stage1_checkpoint`` takes a stage-1 run only: a SAM file (Meta's
    layout, the stand-in) and a stage-2 file (another class count or the
    same) are one-line errors that say what the file is."""
    torch.manual_seed(0)
    standin = tmp_path / 'standin.pth'
    torch.save(official_state('tiny', 64), standin)
    with pytest.raises(ValueError) as e:
        LPSAM(stage=2, num_classes=6, arch='tiny', img_size=64,
              stage1_checkpoint=str(standin))
    msg = str(e.value)
    assert 'not a stage-1 LP-SAM checkpoint' in msg and '\n' not in msg
    assert 'sam_checkpoint' in msg
    s2 = LPSAM(stage=2, num_classes=3, arch='tiny', img_size=64).state_dict()
    stage2 = _mmengine_checkpoint(s2, tmp_path / 'stage2.pth')
    with pytest.raises(ValueError) as e:
        LPSAM(stage=2, num_classes=6, arch='tiny', img_size=64,
              stage1_checkpoint=stage2)
    msg = str(e.value)
    assert '\n' not in msg
    assert 'is an LP-SAM stage-2 checkpoint' in msg
    assert '3 classes, this model 6' in msg and 'load_from' in msg
    with pytest.raises(ValueError, match=r'stage-2 checkpoint .*3 classes\)'):
        LPSAM(stage=2, num_classes=3, arch='tiny', img_size=64,
              stage1_checkpoint=stage2)
    # a real stage-1 file (as a work dir) loads
    s1 = LPSAM(stage=1, arch='tiny', img_size=64).state_dict()
    (tmp_path / 'w1').mkdir()
    _mmengine_checkpoint(s1, tmp_path / 'w1' / 'best_mDice_iter_2.pth')
    model = LPSAM(stage=2, num_classes=6, arch='tiny', img_size=64,
                  stage1_checkpoint=str(tmp_path / 'w1'))
    key = 'adapters.mlp_adapters.0.down.weight'
    assert torch.equal(model.state_dict()[key], s1[key])


def test_other_input_size_resizes_unless_it_cannot(tmp_path):
    """A SAM file of the same arch at another input size loads (tables
    resized, both ways); one whose tables cannot be resized (another
    global-block layout, a flattened ``pos_embed``) or of another arch
    fails with the key and both shapes."""
    path = tmp_path / 'sam.pth'
    for ckpt_size, model_size in ((128, 64), (64, 128)):
        state = official_state('tiny', ckpt_size)
        torch.save(state, path)
        model = LPSAM(arch='tiny', img_size=model_size,
                      sam_checkpoint=str(path))
        grid = model_size // 16
        expected = dict(state)
        resize_sam_encoder_state(expected, 'image_encoder.', grid, (1, ))
        enc = model.image_encoder
        assert enc.pos_embed.shape == (1, grid, grid, 64)
        assert torch.equal(enc.pos_embed, expected['image_encoder.pos_embed'])
        assert enc.blocks[1].attn.rel_pos_h.shape == (2 * grid - 1, 32)
        assert torch.equal(enc.blocks[0].attn.rel_pos_h,  # windowed: as is
                           state['image_encoder.blocks.0.attn.rel_pos_h'])

    # another size, pos_embed flattened (1, N, C): cannot be resized
    state = official_state('tiny', 128)
    state['image_encoder.pos_embed'] = state['image_encoder.pos_embed'] \
        .flatten(1, 2)
    torch.save(state, path)
    with pytest.raises(ValueError) as e:
        LPSAM(arch='tiny', img_size=64, sam_checkpoint=str(path))
    msg = str(e.value)
    assert '"image_encoder.pos_embed"' in msg
    assert '(1, 64, 64)' in msg and '(1, 4, 4, 64)' in msg
    assert 'cannot be resized to the 64px input' in msg

    # another arch whose only difference is the global block (0 vs 1):
    # the checkpoint's global table (15 rows at 128 px) meets a windowed
    # block (3 rows), which is never resized
    other = dict(build_sam_parts('tiny', 128)[3], global_attn_indexes=(0, ))
    torch.save(official_state(other, 128), path)
    with pytest.raises(ValueError) as e:
        LPSAM(arch='tiny', img_size=64, sam_checkpoint=str(path))
    msg = str(e.value)
    assert '"image_encoder.blocks.0.attn.rel_pos_h"' in msg
    assert '(15, 32)' in msg and '(3, 32)' in msg and '\n' not in msg
    with pytest.raises(ValueError, match='multiple of 16'):
        LPSAM(arch='tiny', img_size=72)
