"""Training budgets: run a config for N iterations with its schedule intact.

A benchmark trains every method for the same number of iterations at the
same batch size, whatever its config was written for. Setting only
``train_cfg.max_iters`` is not enough: the learning-rate warm-up and cosine
keep their old lengths (a cosine written for 30 iterations ends at iteration
30 of a 300-iteration run and leaves the LR at its floor for the rest) and
the LR stays tuned for the old batch. The functions here change the length
and keep the *shape*:

* :func:`set_pretrain_budget` — pre-training: ``IterBasedTrainLoop`` of
  ``max_iters``, every scheduler's ``begin`` / ``end`` / ``T_max`` rescaled
  from the old length, an infinite sampler, and the LR scaled linearly with
  the total batch through mmengine's ``auto_scale_lr`` (from the config's
  ``base_batch_size``). ``CosineEMA`` (BYOL, ANAUS, ...) anneals over the
  runner's ``max_iters``, which the runner takes from the new loop.
* :func:`set_iter_budget` — fine-tuning under a fixed iteration count
  (label-efficiency runs), also with an infinite sampler: with mmengine's
  ``DefaultSampler`` an iteration-based loop restarts the loader at every
  epoch end with a fixed two-second pause, which dominates small label
  subsets.
* :func:`schedule_summary` — the effective schedule of a config (peak LR,
  warm-up, last LR, images seen), computed by stepping its own schedulers.
"""
import copy
from typing import Dict, List, Optional, Tuple

from mmengine.config import Config

__all__ = ['set_pretrain_budget', 'set_iter_budget', 'schedule_summary',
           'use_infinite_sampler', 'rescale_schedulers']

_NO_END = 1e9  # mmengine's INF default of ``end``


def _is_epoch_based(train_cfg: dict) -> bool:
    return (train_cfg.get('type') == 'EpochBasedTrainLoop' or
            train_cfg.get('by_epoch', False) or 'max_epochs' in train_cfg)


def _scheduler_list(cfg: Config) -> List[dict]:
    scheds = cfg.get('param_scheduler') or []
    if not isinstance(scheds, (list, tuple)):
        scheds = [scheds]
        cfg.param_scheduler = scheds
    return list(scheds)


def rescale_schedulers(cfg: Config, old_len: float, new_iters: int,
                       epoch_based: bool, clip_iter_based: bool = False
                       ) -> Config:
    """Stretch every parameter scheduler from ``old_len`` to ``new_iters``.

    ``begin``, ``end`` and ``T_max`` are multiplied by ``new_iters /
    old_len`` and every scheduler becomes iteration-based. ``old_len`` is in
    epochs for the ``by_epoch`` schedulers of an epoch-based config and in
    iterations otherwise. An iteration-based scheduler of an epoch-based
    config (a warm-up written in iterations) has no epoch length to stretch
    from: it is clipped to ``new_iters`` when ``clip_iter_based`` is True,
    else stretched as well.

    Args:
        cfg (Config): Config whose ``param_scheduler`` is changed in place.
        old_len (float): Length the schedule was written for.
        new_iters (int): Number of iterations to run.
        epoch_based (bool): Whether the config's loop counts epochs.
        clip_iter_based (bool): See above. Defaults to False.

    Returns:
        Config: ``cfg``.
    """
    factor = new_iters / max(old_len, 1e-12)
    for s in _scheduler_list(cfg):
        s.pop('convert_to_iter_based', None)
        by_epoch = s.get('by_epoch', True)
        if epoch_based and not by_epoch and clip_iter_based:
            for key in ('begin', 'end'):
                if key in s and s[key] < _NO_END:
                    s[key] = min(int(s[key]), new_iters)
            continue
        for key in ('begin', 'end'):
            if key in s and s[key] < _NO_END:
                s[key] = int(round(s[key] * factor))
        if s.get('T_max') is not None:
            s['T_max'] = max(1, int(round(s['T_max'] * factor)))
        s['by_epoch'] = False
    return cfg


def use_infinite_sampler(cfg: Config, key: str = 'train_dataloader'
                         ) -> Config:
    """Give ``cfg[key]`` an ``InfiniteSampler`` (keeping ``shuffle``/seed).

    An iteration-based loop over a finite sampler restarts the dataloader at
    every epoch end (mmengine sleeps two seconds there); an infinite sampler
    never ends, so nothing restarts.
    """
    loader = cfg.get(key)
    if not loader:
        return cfg
    old = loader.get('sampler') or {}
    sampler = dict(type='InfiniteSampler', shuffle=old.get('shuffle', True))
    if old.get('seed') is not None:
        sampler['seed'] = old['seed']
    loader['sampler'] = sampler
    return cfg


def _old_length(train_cfg: dict, default: int) -> Tuple[bool, float]:
    epoch_based = _is_epoch_based(train_cfg)
    old_len = train_cfg.get('max_epochs' if epoch_based else 'max_iters')
    return epoch_based, float(old_len or default)


def set_pretrain_budget(cfg: Config, max_iters: Optional[int] = None,
                        batch_size: Optional[int] = None,
                        scale_lr: bool = True) -> Config:
    """Pre-train ``cfg`` for ``max_iters`` iterations at ``batch_size``.

    The loop becomes ``IterBasedTrainLoop(max_iters)``; warm-up and cosine
    keep their shape over the new length (:func:`rescale_schedulers`); the
    training loader gets an infinite sampler; checkpoint and log hooks count
    iterations (one checkpoint at the end). With ``scale_lr`` the learning
    rate follows the total batch linearly, ``lr × world_size × batch_size /
    auto_scale_lr.base_batch_size`` (mmengine's ``auto_scale_lr``, applied
    by the runner, so that the number of processes counts too).

    Args:
        cfg (Config): A pre-training config; changed in place.
        max_iters (int, optional): Iterations to train; None keeps the
            config's loop and schedule.
        batch_size (int, optional): Per-process batch; None keeps the
            config's.
        scale_lr (bool): Enable linear LR scaling. Needs
            ``auto_scale_lr.base_batch_size`` in the config. Defaults to True.

    Returns:
        Config: ``cfg``.

    Raises:
        ValueError: ``max_iters`` or ``batch_size`` < 1, or ``scale_lr``
            without ``auto_scale_lr.base_batch_size`` in the config.
    """
    if max_iters is not None and int(max_iters) < 1:
        raise ValueError(f'max_iters must be >= 1, got {max_iters}')
    if batch_size is not None and int(batch_size) < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    if batch_size is not None:
        cfg.train_dataloader['batch_size'] = int(batch_size)
    if scale_lr:
        auto = cfg.get('auto_scale_lr') or {}
        if not auto.get('base_batch_size'):
            raise ValueError(
                'the config has no auto_scale_lr.base_batch_size (the total '
                'batch its learning rate was set for); add it, or pass '
                'scale_lr=False to keep the LR whatever the batch')
        cfg.auto_scale_lr = dict(auto, enable=True)
    if max_iters is None:
        return cfg
    max_iters = int(max_iters)
    old = cfg.get('train_cfg') or {}
    epoch_based, old_len = _old_length(old, max_iters)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters)
    if old.get('val_interval') and cfg.get('val_dataloader'):
        cfg.train_cfg['val_interval'] = min(
            max_iters, max(1, int(round(old['val_interval'] * max_iters /
                                        old_len))))
    rescale_schedulers(cfg, old_len, max_iters, epoch_based)
    use_infinite_sampler(cfg)
    hooks = cfg.get('default_hooks') or {}
    if hooks.get('checkpoint'):
        hooks['checkpoint'].update(by_epoch=False, interval=max_iters)
    cfg.setdefault('log_processor', {})
    cfg.log_processor['by_epoch'] = False
    return cfg


def set_iter_budget(cfg: Config, iters: int) -> Config:
    """Fine-tune for exactly ``iters`` iterations, whatever the data size.

    ``train_cfg`` becomes ``IterBasedTrainLoop(max_iters=iters,
    val_interval=iters)`` (an epoch-based config is converted: its
    iterations per epoch would shrink with a label subset) and the training
    loader samples without end (:func:`use_infinite_sampler`). Parameter
    schedulers keep their shape: ``begin`` / ``end`` / ``T_max`` are
    rescaled from the old length (epochs for ``by_epoch`` schedulers of an
    epoch-based config, iterations for an iteration-based config) to
    ``iters``; iteration-based warm-ups of an epoch-based config are only
    clipped to ``iters``. Checkpoint and log hooks count iterations.
    Validation during training is switched off: the validation set is the
    test fold, which ``runner.test()`` evaluates once at the end.

    Args:
        cfg (Config): A downstream config; changed in place.
        iters (int): Iterations to train.

    Returns:
        Config: ``cfg``.

    Raises:
        ValueError: ``iters`` < 1.
    """
    if int(iters) < 1:
        raise ValueError(f'--iters must be >= 1, got {iters}')
    iters = int(iters)
    epoch_based, old_len = _old_length(cfg.get('train_cfg') or {}, iters)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters,
                         val_interval=iters)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    rescale_schedulers(cfg, old_len, iters, epoch_based,
                       clip_iter_based=True)
    use_infinite_sampler(cfg)
    hooks = cfg.get('default_hooks') or {}
    if hooks.get('checkpoint'):
        hooks['checkpoint'].update(by_epoch=False, interval=iters,
                                   save_best=None)
    cfg.setdefault('log_processor', {})
    cfg.log_processor['by_epoch'] = False
    return cfg


def schedule_summary(cfg: Config, world_size: int = 1) -> Dict[str, float]:
    """The effective LR schedule of an iteration-based config.

    Steps the config's own parameter schedulers (built by mmengine on a
    one-parameter optimizer) through every iteration, after the
    ``auto_scale_lr`` scaling the runner applies.

    Args:
        cfg (Config): Config with an ``IterBasedTrainLoop`` (e.g. after
            :func:`set_pretrain_budget`).
        world_size (int): Number of processes (for the total batch).

    Returns:
        dict: ``max_iters``, ``batch_size`` (total), ``images_seen``,
        ``base_lr`` (after batch scaling), ``peak_lr``, ``peak_iter``,
        ``warmup_iters`` (iterations before the peak), ``last_lr``
        and ``min_lr_iter`` (first iteration at the minimum after the peak).
    """
    import torch
    from mmengine.registry import PARAM_SCHEDULERS
    train = cfg.get('train_cfg') or {}
    if _is_epoch_based(train):
        raise ValueError('schedule_summary needs an iteration-based config '
                         '(apply set_pretrain_budget first)')
    max_iters = int(train['max_iters'])
    batch = int(cfg.train_dataloader['batch_size']) * int(world_size)
    lr = float(cfg.optim_wrapper['optimizer']['lr'])
    auto = cfg.get('auto_scale_lr') or {}
    if auto.get('enable') and auto.get('base_batch_size'):
        lr *= batch / float(auto['base_batch_size'])
    param = torch.zeros(1, requires_grad=True)
    optim = torch.optim.SGD([param], lr=lr)
    scheds = [PARAM_SCHEDULERS.build(dict(copy.deepcopy(dict(s)),
                                          optimizer=optim))
              for s in (cfg.get('param_scheduler') or [])]
    lrs = []
    for _ in range(max_iters):
        lrs.append(optim.param_groups[0]['lr'])
        optim.step()  # no gradient: changes nothing, keeps torch's order
        for s in scheds:
            s.step()
    peak = max(lrs)
    peak_iter = lrs.index(peak)
    tail = lrs[peak_iter:]
    low = min(tail)
    return dict(max_iters=max_iters, batch_size=batch,
                images_seen=max_iters * batch, base_lr=lr, peak_lr=peak,
                peak_iter=peak_iter, warmup_iters=peak_iter, last_lr=lrs[-1],
                min_lr_iter=peak_iter + tail.index(low))
