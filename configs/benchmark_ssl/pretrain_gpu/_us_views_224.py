# The built-in SSL baselines' view protocol (configs/selfsup/_base_/
# ssl_1xb4-30it_sim-demo.py: BYOL's views, the photometric part shared
# with ANAUS)
# at 224 px, with GPU data loading. Only new names here: the ResNet-18
# baseline configs of this folder merge it into their own train_dataloader.
img_size_224 = 224
view_pipeline1_224 = [
    dict(type='RandomResizedCrop', scale=img_size_224,
         crop_ratio_range=(0.2, 1.0), backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='BYOLPhotometric', view=0),
]
view_pipeline2_224 = [
    dict(type='RandomResizedCrop', scale=img_size_224,
         crop_ratio_range=(0.2, 1.0), backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='BYOLPhotometric', view=1),
]
train_pipeline_224 = [
    dict(type='LoadImageFromFile', color_type='color'),
    dict(type='MultiView', num_views=[1, 1],
         transforms=[view_pipeline1_224, view_pipeline2_224]),
    dict(type='PackInputs'),
]
