# ANAUS pre-training with a ViT-B/16 backbone and a ViTDet-style simple
# feature pyramid (4 scales from the last block), AdamW lr 1.5e-4 x
# batch/256, wd 0.05, betas (0.9, 0.95), AMP (tools/train.py falls back to
# full precision without CUDA). https://arxiv.org/abs/2605.25402
# configs/anaus_vit-b_pretrain.py is this config under the short name users
# type.
_base_ = './anaus_resnet18_8xb24-300e_us.py'

img_size = 224
batch_size = 24
num_gpus = 8
fpn_channels = 256
model = dict(
    backbone=dict(
        _delete_=True,
        type='VisionTransformer',
        arch='b',
        img_size=img_size,
        patch_size=16,
        out_type='featmap',
        out_indices=-1,
        drop_path_rate=0.1),
    neck=dict(
        _delete_=True,
        type='SimpleFeaturePyramid',
        in_channels=768,
        out_channels=fpn_channels,
        scale_factors=(4.0, 2.0, 1.0, 0.5)),
    projector=dict(in_channels=fpn_channels),
    # paper-faithful core (the cheaper ResNet-18 defaults were measured on
    # ResNet-18 only)
    core_scale=1.0,
    core_target='core')

base_lr = 1.5e-4 * batch_size * num_gpus / 256
optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=base_lr, betas=(0.9, 0.95),
                   weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            'pos_embed': dict(decay_mult=0.),
            'cls_token': dict(decay_mult=0.),
        }))
