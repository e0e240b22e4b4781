# LP-SAM augmentations (paper): gamma 1-2.5, rotation ±30°, scale 1-1.3 +
# random crop, contrast 0.8-2, each p = 0.5; no flip. Loading through the
# ultrasound loaders of anaus_mm (binary masks binarised, label maps mapped
# by the sample's label_map; NIfTI/MHD images for CAMUS).
input_size = 256
train_pipeline = [
    dict(type='LoadUSImageFromFile'),
    dict(type='LoadMergedAnnotations'),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='RandomGamma', prob=0.5, gamma_range=(1.0, 2.5)),
    dict(type='RandomRotate', prob=0.5, degree=30, pad_val=0,
         seg_pad_val=255),
    dict(type='RandomApply', prob=0.5, transforms=[
        dict(type='RandomResize', scale=(input_size, input_size),
             ratio_range=(1.0, 1.3), keep_ratio=True),
        dict(type='RandomCrop', crop_size=(input_size, input_size)),
    ]),
    dict(type='RandomContrast', prob=0.5, contrast_range=(0.8, 2.0)),
    dict(type='PackSegInputs'),
]
# annotations after Resize: gt stays at the original size for IoUMetric
test_pipeline = [
    dict(type='LoadUSImageFromFile'),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='LoadMergedAnnotations'),
    dict(type='PackSegInputs'),
]
val_evaluator = dict(type='IoUMetric', iou_metrics=['mDice'])
test_evaluator = val_evaluator
