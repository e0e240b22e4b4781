# LP-SAM stage 2 on DDTI, from the stage-1 DDTI run (see the sim config).
_base_ = [
    './_base_/lpsam_vit-b.py', './_base_/ddti-256.py',
    './_base_/schedule_adam_200e.py', './_base_/default_runtime.py'
]
model = dict(stage=2, num_classes=1, sam_checkpoint=None,
             stage1_checkpoint=(
                 'work_dirs/lpsam-stage1_vit-b_1xb8-200e_ddti-256'),
             decode_head=dict(type='LatentPromptHead', iou_loss_weight=1.0))
train_dataloader = dict(batch_size=32)
