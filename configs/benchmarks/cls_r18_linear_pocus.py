# POCUS classification, ResNet-18 linear probe: the whole backbone frozen
# (frozen_stages=4, BN in eval mode), only the linear head trained (Adam
# lr 0.01, 30 epochs); fold 0 of a grouped 5-fold CV (tools/kfold.py).
# Pre-trained backbone: model.backbone.init_cfg = dict(type='Pretrained',
#   checkpoint=CKPT, prefix='backbone.'), e.g. tools/kfold.py --pretrained.
_base_ = [
    '../_base_/models/resnet18_cls.py', '../_base_/datasets/pocus_cls.py',
    '../_base_/schedules/cls_adam_30e.py', '../_base_/default_runtime_cls.py'
]
model = dict(
    data_preprocessor=dict(num_classes={{_base_.num_classes}}),
    backbone=dict(frozen_stages=4, norm_eval=True),
    head=dict(num_classes={{_base_.num_classes}}))
