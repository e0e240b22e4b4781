"""NonFiniteLossHook is usable from configs of both scopes."""
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope

from anaus_mm.engine.hooks import NonFiniteLossHook

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.mark.parametrize('scope', ['mmpretrain', 'mmseg'])
def test_hook_in_both_registries(scope):
    registry = __import__(f'{scope}.registry', fromlist=['HOOKS']).HOOKS
    with DefaultScope.overwrite_default_scope(scope):
        hook = registry.build(dict(type='NonFiniteLossHook', interval=2))
    assert isinstance(hook, NonFiniteLossHook) and hook.interval == 2


def test_mmseg_config_with_the_hook_builds(tmp_path):
    from mmengine.runner import Runner
    cfg = Config.fromfile(osp.join(REPO, 'tests/data/configs/'
                                   'fcn_r18_tiny_seg.py'))
    assert cfg.default_scope == 'mmseg'
    cfg.custom_hooks = [dict(type='NonFiniteLossHook')]
    cfg.work_dir = str(tmp_path)
    cfg.experiment_name = 'nonfinite_hook_mmseg'
    runner = Runner.from_cfg(cfg)
    assert DefaultScope.get_current_instance().scope_name == 'mmseg'
    assert sum(isinstance(h, NonFiniteLossHook) for h in runner.hooks) == 1
