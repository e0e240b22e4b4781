"""Training budgets (anaus_mm.engine.budget): schedules keep their shape at
any length, the LR follows the batch, budgeted loops never restart their
loader."""
import os.path as osp

import pytest
from mmengine.config import Config

from anaus_mm.engine.budget import (schedule_summary, set_iter_budget,
                                    set_pretrain_budget)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _cfg(rel):
    return Config.fromfile(osp.join(REPO, rel))


@pytest.mark.parametrize('rel', [
    'configs/anaus/anaus_resnet18_1xb4-30it_sim-demo.py',
    'configs/selfsup/byol_resnet18_1xb4-30it_sim-demo.py',
    'configs/selfsup/densecl_resnet18_1xb4-30it_sim-demo.py',
    'configs/selfsup/simclr_resnet18_1xb4-30it_sim-demo.py'])
def test_demo_schedules_stretch_to_a_ten_times_longer_budget(rel):
    cfg = _cfg(rel)
    written = schedule_summary(cfg)  # the config as written: 30 it, batch 4
    assert written['max_iters'] == 30 and written['min_lr_iter'] == 29
    set_pretrain_budget(cfg, 300, batch_size=16)
    assert cfg.train_cfg == dict(type='IterBasedTrainLoop', max_iters=300)
    assert cfg.train_dataloader.sampler.type == 'InfiniteSampler'
    warm, cos = cfg.param_scheduler
    # LinearLR 0..5 and cosine 5..30 (T_max 25) of 30 -> x10
    assert (warm['begin'], warm['end']) == (0, 50)
    assert (cos['begin'], cos['end'], cos['T_max']) == (50, 300, 250)
    s = schedule_summary(cfg)
    # the cosine reaches its minimum at the last iteration, not at 30
    # (mmengine's LinearLR reaches its end factor at step end - 1)
    assert s['min_lr_iter'] == 299 and s['warmup_iters'] == 49
    # LR linear in the total batch: 16 / 4 x the written peak
    assert s['peak_lr'] == pytest.approx(4 * written['peak_lr'])
    assert s['images_seen'] == 300 * 16
    assert s['last_lr'] < 0.01 * s['peak_lr']


def test_epoch_based_paper_config_becomes_iteration_based():
    cfg = _cfg('configs/anaus/anaus_resnet18_8xb24-300e_us.py')
    set_pretrain_budget(cfg, 600, batch_size=24, scale_lr=True)
    warm, cos = cfg.param_scheduler
    # 3 warm-up epochs of 300 -> 6 of 600 iterations; cosine 297 -> 594
    assert (warm['end'], warm['by_epoch']) == (6, False)
    assert (cos['begin'], cos['end'], cos['T_max']) == (6, 600, 594)
    assert 'convert_to_iter_based' not in cos
    assert cfg.default_hooks.checkpoint.interval == 600
    # 8 GPUs x 24 was the base: one process of 24 is an eighth of the LR
    s = schedule_summary(cfg, world_size=1)
    assert s['base_lr'] == pytest.approx(0.3 * 24 / 256)
    assert s['min_lr_iter'] == 599


def test_budget_without_base_batch_is_refused():
    cfg = _cfg('configs/anaus/anaus_resnet18_1xb4-30it_sim-demo.py')
    cfg.auto_scale_lr = None
    with pytest.raises(ValueError, match='auto_scale_lr.base_batch_size'):
        set_pretrain_budget(cfg, 10, batch_size=2)
    with pytest.raises(ValueError, match='max_iters must be >= 1'):
        set_pretrain_budget(cfg, 0, scale_lr=False)


def test_finetune_budget_rescales_and_never_restarts_the_loader():
    cls = _cfg('configs/benchmark_ssl/downstream/cls_r18_ft_sim_demo-cpu.py')
    assert cls.train_dataloader.sampler.type == 'DefaultSampler'
    cls.param_scheduler = [
        dict(type='LinearLR', by_epoch=True, begin=0, end=3),
        dict(type='CosineAnnealingLR', by_epoch=True, T_max=27, begin=3,
             end=30)]
    set_iter_budget(cls, 60)
    assert cls.train_cfg == dict(type='IterBasedTrainLoop', max_iters=60,
                                 val_interval=60)
    assert cls.train_dataloader.sampler == dict(type='InfiniteSampler',
                                                shuffle=True)
    assert [(s['begin'], s['end'], s['by_epoch'])
            for s in cls.param_scheduler] == [(0, 6, False), (6, 60, False)]
    assert cls.param_scheduler[1]['T_max'] == 54
    with pytest.raises(ValueError, match='--iters must be >= 1'):
        set_iter_budget(cls, 0)
