# LP-SAM stage 2: latent prompt engine + mask decoder on the frozen stage-1
# encoder, simulated data, 256x256, batch 32.
# Starts from stage 1: `stage1_checkpoint` is a stage-1 .pth or its work dir
# (best_mDice_*.pth, else the last checkpoint). Alternatively set
# `load_from=<stage-1 .pth>` and `model.stage1_checkpoint=None` (non-strict
# load; the prompt-engine keys are reported missing, as expected).
#   python tools/train.py configs/lpsam/lpsam-stage2_vit-b_1xb32-200e_sim-256.py
_base_ = [
    './_base_/lpsam_vit-b.py', './_base_/sim_anatomy-256.py',
    './_base_/schedule_adam_200e.py', './_base_/default_runtime.py'
]
model = dict(
    stage=2,
    decode_head=dict(type='LatentPromptHead', iou_loss_weight=1.0),
    sam_checkpoint=None,  # every SAM weight comes with the stage-1 weights
    stage1_checkpoint='work_dirs/lpsam-stage1_vit-b_1xb8-200e_sim-256')
train_dataloader = dict(batch_size=32)
auto_scale_lr = dict(enable=False, base_batch_size=32)
