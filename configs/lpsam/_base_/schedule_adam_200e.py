# Paper / reference code: Adam lr 5e-4, 200 epochs; best val Dice kept.
optim_wrapper = dict(
    type='AmpOptimWrapper',  # falls back to OptimWrapper on CPU
    optimizer=dict(type='Adam', lr=5e-4, betas=(0.9, 0.999),
                   weight_decay=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=2, end=200,
         eta_min=1e-6),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=200, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(enable=False, base_batch_size=8)
