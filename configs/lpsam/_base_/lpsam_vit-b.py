# LP-SAM on SAM ViT-B at 256x256 (method.md §1). Children set model.stage
# (and, for stage 2, the latent-prompt decode head).
img_size = 256
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],  # SAM's pixel statistics (RGB)
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=(img_size, img_size))
model = dict(
    type='LPSAM',
    stage=1,
    num_classes=6,  # anatomy ids 1..6 of the simulator (0 = background)
    arch='vit_b',
    img_size=img_size,
    # official weights: https://dl.fbaipublicfiles.com/segment_anything/
    sam_checkpoint='checkpoints/sam_vit_b_01ec64.pth',
    stage1_checkpoint=None,
    adapter_cfg=dict(adapter_ratio=0.25, mlp_adapter_scale=0.5),
    prompt_engine_cfg=dict(num_tokens=2, depth=4, num_heads=8),
    # stage 1: SAM's decoder prompted by ground-truth boxes; stage-2
    # configs switch to type='LatentPromptHead' (keeping this loss)
    decode_head=dict(
        type='BoxPromptHead',
        loss_decode=dict(type='BCEDiceLoss', alpha=0.8, pos_weight=2.0)),
    score_thr=0.5,
    data_preprocessor=data_preprocessor)
