"""LP-SAM (tiny architecture): shapes, freezing, adapters, heads, loss,
merging."""
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from anaus_mm.models.lpsam import (BCEDiceLoss, BoxPromptHead,
                                   LatentPromptHead, LPSAM)
from anaus_mm.models.lpsam.decode_heads import SAMMaskHead
from anaus_mm.models.lpsam.sam_utils import boxes_from_masks

SIZE = 64
PREPROC = dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
               std=[58.395, 57.12, 57.375], bgr_to_rgb=True,
               size=(SIZE, SIZE), pad_val=0, seg_pad_val=255)


def build(stage, num_classes=3, **kw):
    return MODELS.build(dict(type='LPSAM', stage=stage, arch='tiny',
                             img_size=SIZE, num_classes=num_classes,
                             data_preprocessor=PREPROC, **kw))


def batch(model, ori=(80, 90)):
    torch.manual_seed(0)
    inputs, samples = [], []
    for _ in range(2):
        g = torch.zeros(1, SIZE, SIZE, dtype=torch.long)
        g[0, 10:30, 10:40] = 1
        g[0, 40:60, 5:20] = 3
        g[0, :3] = 255
        ds = SegDataSample(gt_sem_seg=PixelData(data=g))
        ds.set_metainfo(dict(img_shape=(SIZE, SIZE), ori_shape=ori))
        samples.append(ds)
        inputs.append(torch.randint(0, 255, (3, SIZE, SIZE),
                                    dtype=torch.uint8))
    return model.data_preprocessor(dict(inputs=inputs, data_samples=samples),
                                   True)


@pytest.mark.parametrize('stage', [1, 2])
def test_forward_backward_and_freezing(stage):
    model = build(stage)
    data = batch(model)
    losses = model(**data, mode='loss')
    expected = {'loss_bce', 'loss_dice'} | ({'loss_iou'} if stage == 2
                                            else set())
    assert set(losses) == expected
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    sum(losses.values()).backward()
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    prefixes = ('adapters.', ) if stage == 1 else ('prompt_engine.',
                                                   'mask_decoder.')
    assert trainable and all(n.startswith(prefixes) for n in trainable)
    for n, p in model.named_parameters():
        if n.startswith(prefixes):
            assert p.requires_grad, n
        if n.startswith(('image_encoder.', 'prompt_encoder.')) or \
                (stage == 2 and n.startswith('adapters.')):
            assert not p.requires_grad and p.grad is None, n
    # every trainable parameter is reached by the loss (DDP-safe)
    no_grad = [n for n, p in model.named_parameters()
               if p.requires_grad and p.grad is None]
    assert no_grad == []
    assert model.num_trainable_parameters() == sum(
        p.numel() for n, p in model.named_parameters() if n in trainable)

    model.eval()
    with torch.no_grad():
        out = model(**data, mode='predict')
        tensor = model(**data, mode='tensor')
    assert len(out) == 2
    assert out[0].pred_sem_seg.data.shape == (1, 80, 90)
    assert out[0].seg_logits.data.shape == (4, 80, 90)  # bg + 3 classes
    assert int(out[0].pred_sem_seg.data.max()) <= 3
    assert out[0].pred_iou.shape == (3, )
    if stage == 2:
        assert tensor.shape == (2, 3, SIZE // 4, SIZE // 4)
    else:  # image embeddings
        assert tensor.shape == (2, 32, SIZE // 16, SIZE // 16)


def test_stage1_predict_needs_ground_truth():
    model = build(1).eval()
    with pytest.raises(ValueError, match='box prompts'):
        model.predict(torch.zeros(1, 3, SIZE, SIZE))


def test_untrained_adapters_leave_sam_unchanged():
    """Zero-initialised adapters: the wrapped encoder == SAM's own."""
    model = build(1).eval()
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        ref = model.image_encoder(x)
        out = model.extract_feat(x)
        assert torch.allclose(out, ref, atol=1e-5)
        model.adapters.mlp_adapters[0].up.weight.normal_()
        assert not torch.allclose(model.extract_feat(x), ref, atol=1e-3)


def test_boxes_and_label_merge():
    gt = torch.zeros(2, 16, 16, dtype=torch.long)
    gt[0, 2:5, 3:9] = 2
    gt[1, 0, 0] = 255
    idx, cls, boxes = boxes_from_masks(gt, 3)
    assert idx.tolist() == [0] and cls.tolist() == [2]
    assert boxes.tolist() == [[3.0, 2.0, 8.0, 4.0]]
    model = build(2, score_thr=0.5)
    probs = torch.tensor([[0.2, 0.4, 0.3], [0.6, 0.9, 0.1],
                          [0.55, 0.1, 0.0]]).t().reshape(1, 3, 1, 3)
    assert model.merge_label_map(probs).tolist() == [[[0, 2, 1]]]


def test_bce_dice_loss_values():
    loss = BCEDiceLoss(alpha=0.8, pos_weight=2.0)
    target = torch.zeros(1, 1, 8, 8)
    target[..., 2:6, 2:6] = 1
    good = loss(torch.where(target > 0, 20.0, -20.0), target)
    bad = loss(torch.where(target > 0, -20.0, 20.0), target)
    assert good['loss_dice'] < 1e-3 and good['loss_bce'] < 1e-3
    assert bad['loss_dice'] > 0.75 and bad['loss_bce'] > 1.0
    # ignored pixels do not count
    valid = torch.zeros_like(target)
    assert loss(torch.where(target > 0, -20.0, 20.0), target,
                valid)['loss_bce'] == 0
    with pytest.raises(ValueError):
        BCEDiceLoss(alpha=1.5)


def test_stage_arguments_are_checked():
    with pytest.raises(ValueError, match='stage'):
        LPSAM(stage=3, arch='tiny', img_size=SIZE)
    with pytest.raises(ValueError, match='unknown SAM arch'):
        LPSAM(arch='vit_x', img_size=SIZE)
    with pytest.raises(ValueError, match='stage-2'):
        LPSAM(stage=1, arch='tiny', img_size=SIZE,
              stage1_checkpoint='x.pth')


def test_heads_per_stage_and_checks():
    assert isinstance(build(1).decode_head, BoxPromptHead)
    head = build(2).decode_head
    assert isinstance(head, LatentPromptHead) and head.iou_loss_weight == 1
    assert MODELS.get('BoxPromptHead') is BoxPromptHead
    # the heads hold no weights: the official SAM key layout is kept
    model = build(2)
    assert not any(k.startswith('decode_head.') for k in model.state_dict())
    with pytest.raises(ValueError, match='stage 2 needs LatentPromptHead'):
        build(2, decode_head=dict(type='BoxPromptHead'))
    with pytest.raises(ValueError, match='stage 1 needs BoxPromptHead'):
        build(1, decode_head=dict(type='LatentPromptHead'))
    with pytest.raises(ValueError, match='num_classes'):
        build(1, decode_head=dict(num_classes=2))
    head = build(1, decode_head=dict(
        loss_decode=dict(type='BCEDiceLoss', alpha=0.3))).decode_head
    assert head.loss_decode.alpha == 0.3 and head.iou_loss_weight == 0


def test_deprecated_loss_arguments():
    with pytest.warns(DeprecationWarning, match='decode_head'):
        model = build(2, loss_cfg=dict(type='BCEDiceLoss', alpha=0.5),
                      iou_loss_weight=0.25)
    assert model.decode_head.loss_decode.alpha == 0.5
    assert model.decode_head.iou_loss_weight == 0.25
    # as before, the IoU term applied to stage 2 only
    with pytest.warns(DeprecationWarning):
        model = build(1, iou_loss_weight=1.0)
    assert model.decode_head.iou_loss_weight == 0
    assert set(model(**batch(model), mode='loss')) == {'loss_bce',
                                                       'loss_dice'}


def test_targets_and_iou_targets_by_hand():
    """Label maps down-sampled (nearest) to the logits' size, one binary
    target per (image, class) pair, 255 invalid; IoU of logit > 0."""
    gt = torch.zeros(1, 4, 4, dtype=torch.long)
    gt[0, :2, :2] = 2
    gt[0, 3, 3] = 255
    logits = torch.full((2, 1, 4, 4), -1.0)
    logits[0, 0, 0, :3] = 1.0  # class 2: 2 of 4 right + 1 false positive
    logits[1, 0, 3, 3] = 1.0  # class 1 (absent): only an ignored pixel
    from anaus_mm.models.lpsam.decode_heads import MaskLogits
    out = MaskLogits(logits, torch.zeros(2, 1), torch.tensor([0, 0]),
                     torch.tensor([2, 1]))
    target, valid = SAMMaskHead.get_targets(gt, out)
    assert target[0, 0].sum() == 4 and target[1, 0].sum() == 0
    assert valid.sum() == 2 * 15 and valid[0, 0, 3, 3] == 0
    iou = SAMMaskHead.get_iou_targets(logits, target, valid)
    assert torch.allclose(iou, torch.tensor([2 / 5, 1.0]))
    head = LatentPromptHead(num_classes=2, iou_loss_weight=2.0)
    losses = head.loss_by_feat(out, gt)
    assert torch.allclose(losses['loss_iou'], 2.0 * (iou**2).mean())


def test_lpsam_configs_use_the_stage_heads(repo_root):
    import glob
    import os.path as osp

    from mmengine.config import Config
    heads = {0: 'SampledPromptHead', 1: 'BoxPromptHead',
             2: 'LatentPromptHead'}
    paths = sorted(glob.glob(osp.join(repo_root, 'configs/lpsam/*.py')))
    assert len(paths) >= 6
    for path in paths:
        m = Config.fromfile(path).model
        assert m.decode_head.type == heads[m.stage], path
        assert m.decode_head.loss_decode == dict(
            type='BCEDiceLoss', alpha=0.8, pos_weight=2.0), path
        assert 'loss_cfg' not in m and 'iou_loss_weight' not in m, path
