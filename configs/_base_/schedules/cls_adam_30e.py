# The paper's fine-tuning protocol: Adam, lr 0.01, 30 epochs (constant lr:
# the paper states no decay).
optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='Adam', lr=0.01,
                                        weight_decay=0.0))
param_scheduler = []
train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64, enable=False)
