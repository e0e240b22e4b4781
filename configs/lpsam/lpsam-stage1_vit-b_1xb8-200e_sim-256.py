# LP-SAM stage 1: ultrasound adapters on frozen SAM ViT-B (box prompts from
# the ground truth), simulated data, 256x256, batch 8.
#   python tools/train.py configs/lpsam/lpsam-stage1_vit-b_1xb8-200e_sim-256.py
_base_ = [
    './_base_/lpsam_vit-b.py', './_base_/sim_anatomy-256.py',
    './_base_/schedule_adam_200e.py', './_base_/default_runtime.py'
]
model = dict(stage=1)
