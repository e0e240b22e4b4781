# DDTI segmentation, UPerNet + MultiLevelNeck + ViT-B/16, fold 0 of a grouped
# 5-fold CV
# (all folds: python tools/kfold.py THIS_CONFIG --num-splits 5).
# Pre-trained backbone (random init by default):
#   model.backbone.init_cfg = dict(type='Pretrained', checkpoint=CKPT,
#                                  prefix='backbone.')
# e.g. python tools/kfold.py THIS_CONFIG --pretrained CKPT
_base_ = [
    '../_base_/models/upernet_vit-b16.py', '../_base_/datasets/ddti_seg.py',
    '../_base_/schedules/seg_adamw_20k.py', '../_base_/default_runtime_seg.py'
]
model = dict(
    decode_head=dict(num_classes=2), auxiliary_head=dict(num_classes=2))
