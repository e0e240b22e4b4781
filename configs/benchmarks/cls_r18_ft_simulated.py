# simulated benign/malignant classification, ResNet-18 fine-tuning with the
# paper's protocol:
# last three stages trainable (frozen_stages=1), Adam lr 0.01, 30 epochs;
# fold 0 of a grouped 5-fold CV (all folds: tools/kfold.py).
# Pre-trained backbone (random init by default):
#   model.backbone.init_cfg = dict(type='Pretrained', checkpoint=CKPT,
#                                  prefix='backbone.')
# e.g. python tools/kfold.py THIS_CONFIG --pretrained CKPT
_base_ = [
    '../_base_/models/resnet18_cls.py', '../_base_/datasets/simulated_cls.py',
    '../_base_/schedules/cls_adam_30e.py', '../_base_/default_runtime_cls.py'
]
model = dict(
    data_preprocessor=dict(num_classes={{_base_.num_classes}}),
    backbone=dict(frozen_stages=1),
    head=dict(num_classes={{_base_.num_classes}}))
