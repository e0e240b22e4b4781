# LP-SAM stage 1 on DDTI (binary: nodule), SAM ViT-B at 256.
_base_ = [
    './_base_/lpsam_vit-b.py', './_base_/ddti-256.py',
    './_base_/schedule_adam_200e.py', './_base_/default_runtime.py'
]
model = dict(stage=1, num_classes=1)
