# UDIAT-B segmentation, UPerNet + ResNet-18, fold 0 of a grouped 5-fold CV
# (all folds: python tools/kfold.py THIS_CONFIG --num-splits 5).
# Pre-trained backbone (random init by default):
#   model.backbone.init_cfg = dict(type='Pretrained', checkpoint=CKPT,
#                                  prefix='backbone.')
# e.g. python tools/kfold.py THIS_CONFIG --pretrained CKPT
_base_ = [
    '../_base_/models/upernet_r18.py', '../_base_/datasets/udiat_seg.py',
    '../_base_/schedules/seg_sgd_20k.py', '../_base_/default_runtime_seg.py'
]
model = dict(
    decode_head=dict(num_classes=2), auxiliary_head=dict(num_classes=2))
