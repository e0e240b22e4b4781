# Tiny LP-SAM stage 2 for the CPU demo and tests; starts from the tiny
# stage-1 run (its work dir: best checkpoint, else last).
#   python tools/train.py configs/lpsam/lpsam-stage2_tiny_1xb2-20it_sim-demo.py
_base_ = ['./lpsam-stage1_tiny_1xb2-20it_sim-demo.py']
model = dict(
    stage=2,
    decode_head=dict(type='LatentPromptHead', iou_loss_weight=1.0),
    stage1_checkpoint='work_dirs/lpsam-stage1_tiny_1xb2-20it_sim-demo')
