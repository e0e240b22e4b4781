"""LP-SAM stage 0 (the simulated SAM stand-in): prompt sampling, the
multimask decoding against SAM's own forward, training of every SAM part,
export to the official layout, and the per-anatomy story table."""
import hashlib
import json
import math

import pytest
import torch
from mmseg.structures import SegDataSample
from mmengine.structures import PixelData

from anaus_mm.models.lpsam import LPSAM
from anaus_mm.models.lpsam.checkpoint import (export_sam_checkpoint,
                                              load_sam_checkpoint)
from anaus_mm.models.lpsam.decode_heads import jitter_boxes, sample_points
from anaus_mm.models.lpsam.sam_builder import build_sam_parts
from anaus_mm.models.lpsam.sam_utils import decode_masks
from anaus_mm.utils.checkpoint import CheckpointError

PRE = dict(type='SegDataPreProcessor', mean=[0., 0., 0.], std=[1., 1., 1.],
           size=(64, 64))


def _label_maps():
    """Two 64x64 label maps: a band (id 1), a thin line (id 2), a blob
    (id 3, first image only)."""
    gt = torch.zeros(2, 64, 64, dtype=torch.long)
    gt[:, 10:30] = 1
    gt[:, 30:32] = 2
    gt[0, 40:50, 20:35] = 3
    return gt


def _samples(gt):
    out = []
    for g in gt:
        ds = SegDataSample(gt_sem_seg=PixelData(data=g[None]))
        ds.set_metainfo(dict(img_shape=(64, 64), ori_shape=(64, 64)))
        out.append(ds)
    return out


def test_jitter_boxes_moves_by_at_most_max_px_and_stays_inside():
    torch.manual_seed(0)
    boxes = torch.tensor([[10., 10., 40., 20.]]).repeat(500, 1)
    out = jitter_boxes(boxes, noise=0.5, max_px=3.0, size=(64, 48))
    assert (out - boxes).abs().max() <= 3.0 + 1e-6
    assert (out[:, 0] <= out[:, 2]).all() and (out[:, 1] <= out[:, 3]).all()
    assert out[:, 0::2].max() <= 47 and out.min() >= 0
    # the noise is proportional to the side: x moves more than y here
    dx = (out[:, 0] - 10).abs().mean()
    dy = (out[:, 1] - 10).abs().mean()
    assert dx > dy > 0


def test_sampled_points_lie_inside_their_region():
    torch.manual_seed(0)
    gt = _label_maps()
    idx = torch.tensor([0, 0, 1, 0])
    cls = torch.tensor([1, 2, 2, 3])
    for _ in range(20):
        pts = sample_points(gt, idx, cls).long()
        for p, b, c in zip(pts, idx, cls):
            assert gt[b, p[1], p[0]] == c


def test_multimask_decoding_equals_sams_own_forward():
    torch.manual_seed(0)
    enc, prompt, dec, _ = build_sam_parts('tiny', 64)
    emb = torch.randn(1, 32, 4, 4)
    pts = torch.tensor([[[20., 12.]], [[40., 50.]]])
    labels = torch.ones(2, 1, dtype=torch.int)
    sparse, dense = prompt(points=(pts, labels), boxes=None, masks=None)
    with torch.no_grad():
        ref_masks, ref_iou = dec(emb, prompt.get_dense_pe(), sparse, dense,
                                 multimask_output=True)
        masks, iou = decode_masks(dec, emb.expand(2, -1, -1, -1),
                                  prompt.get_dense_pe(), sparse, dense,
                                  multimask_output=True)
        one, one_iou = decode_masks(dec, emb.expand(2, -1, -1, -1),
                                    prompt.get_dense_pe(), sparse, dense)
        ref_one, ref_one_iou = dec(emb, prompt.get_dense_pe(), sparse, dense,
                                   multimask_output=False)
    assert masks.shape == (2, 3, 16, 16) and iou.shape == (2, 3)
    torch.testing.assert_close(masks, ref_masks)
    torch.testing.assert_close(iou, ref_iou)
    torch.testing.assert_close(one, ref_one)
    torch.testing.assert_close(one_iou, ref_one_iou)


@pytest.mark.parametrize('box_prob', [0.0, 0.5, 1.0])
def test_stage0_trains_every_sam_part_with_box_and_point_prompts(box_prob):
    torch.manual_seed(0)
    model = LPSAM(stage=0, num_classes=3, arch='tiny', img_size=64,
                  decode_head=dict(type='SampledPromptHead',
                                   box_prob=box_prob),
                  data_preprocessor=PRE)
    assert not hasattr(model, 'adapters')
    assert model.num_trainable_parameters() == sum(
        p.numel() for p in model.parameters())
    gt = _label_maps()
    losses = model.loss(torch.randn(2, 3, 64, 64), _samples(gt))
    assert set(losses) == {'loss_bce', 'loss_dice', 'loss_iou'}
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    for name in ('image_encoder', 'prompt_encoder', 'mask_decoder'):
        grads = [p.grad for p in getattr(model, name).parameters()
                 if p.grad is not None]
        assert grads and any(g.abs().sum() > 0 for g in grads), name
    # the point embeddings train only with point prompts, the box corners
    # only with boxes
    point_w = model.prompt_encoder.point_embeddings[1].weight.grad
    box_w = model.prompt_encoder.point_embeddings[2].weight.grad
    assert (point_w is not None and point_w.abs().sum() > 0) == \
        (box_prob < 1.0)
    assert (box_w is not None and box_w.abs().sum() > 0) == (box_prob > 0)


def test_stage0_predicts_with_ground_truth_boxes():
    model = LPSAM(stage=0, num_classes=3, arch='tiny', img_size=64,
                  data_preprocessor=PRE).eval()
    gt = _label_maps()
    with torch.no_grad():
        probs, iou = model.predict_probs(torch.randn(2, 3, 64, 64),
                                         _samples(gt))
    assert probs.shape == (2, 3, 64, 64)
    # class 3 is absent from the second image: not decoded
    assert iou[1, 2] == 0 and probs[1, 2].abs().sum() == 0


def _stage0_checkpoint(tmp_path, model):
    path = tmp_path / 'iter_1.pth'
    torch.save({'meta': {'iter': 1}, 'state_dict': model.state_dict()}, path)
    return str(path)


def test_export_writes_the_official_layout_that_lpsam_loads(tmp_path):
    torch.manual_seed(0)
    stand_in = LPSAM(stage=0, num_classes=3, arch='tiny', img_size=64,
                     data_preprocessor=PRE)
    src = _stage0_checkpoint(tmp_path, stand_in)
    dst = str(tmp_path / 'out' / 'sam_tiny.pth')
    info = export_sam_checkpoint(src, dst, dict(arch='tiny', img_size=64))
    state = torch.load(dst, map_location='cpu', weights_only=True)
    assert set(state) == set(stand_in.state_dict())
    assert all(k.startswith(('image_encoder.', 'prompt_encoder.',
                             'mask_decoder.')) for k in state)
    with open(dst, 'rb') as f:
        assert hashlib.sha256(f.read()).hexdigest() == info['sha256']
    with open(dst + '.json') as f:
        side = json.load(f)
    assert side['sha256'] == info['sha256'] and side['arch'] == 'tiny'
    # loads as sam_checkpoint of a stage-1 model, at another input size too
    for size in (64, 128):
        model = LPSAM(stage=1, num_classes=3, arch='tiny', img_size=size,
                      sam_checkpoint=dst, data_preprocessor=PRE)
        missing, unexpected = model.sam_load_report
        assert missing == [] and unexpected == []
        torch.testing.assert_close(
            model.mask_decoder.iou_token.weight,
            stand_in.mask_decoder.iou_token.weight)
    # and as a plain load into another model
    other = LPSAM(stage=1, num_classes=3, arch='tiny', img_size=64,
                  data_preprocessor=PRE)
    load_sam_checkpoint(other, dst, 4, (1, ))
    torch.testing.assert_close(other.image_encoder.pos_embed,
                               stand_in.image_encoder.pos_embed)


def test_export_refuses_a_stage1_checkpoint(tmp_path):
    model = LPSAM(stage=1, num_classes=3, arch='tiny', img_size=64,
                  data_preprocessor=PRE)
    src = _stage0_checkpoint(tmp_path, model)
    with pytest.raises(CheckpointError, match='stage-1'):
        export_sam_checkpoint(src, str(tmp_path / 'x.pth'))
    assert not (tmp_path / 'x.pth').exists()


def test_story_table_ratio_row_by_hand():
    from anaus_mm.evaluation.lpsam_eval import story_table
    runs = {
        'zero-shot': dict(dice=dict(a=50.0, b=10.0, c=float('nan'))),
        'stage 1': dict(dice=dict(a=80.0, b=40.0, c=float('nan'))),
        'stage 2': dict(dice=dict(a=72.0, b=30.0, c=float('nan'))),
    }
    table = story_table(runs, shares=dict(a=0.5, b=0.02))
    lines = table.splitlines()
    assert lines[0] == '| model | a (50.0 %) | b (2.0 %) | c | mean |'
    assert lines[2] == '| zero-shot | 50.0 | 10.0 | – | 30.0 |'
    # 72 / 80 = 90 % (meets 85 %), 30 / 40 = 75 % (misses)
    assert lines[-1] == '| stage 2 / stage 1 | 90 % ✓ | 75 % ✗ | – | |'
    assert math.isclose(72 / 80, 0.9)
