"""anaus_mm.benchmark.speed: the timed models are the project's configs,
model options reach the model config, interleaved timing gives every
algorithm its steps, the command line writes its JSON."""
import json
import os.path as osp

import pytest
from mmengine.config import Config

from anaus_mm.benchmark.speed import (CONFIGS, build_step, config_path,
                                      make_batch, model_cfg,
                                      optim_wrapper_cfg, paired_ratio,
                                      parse_variant,
                                      time_interleaved, views_cfg)
from anaus_mm.utils.errors import ConfigValueError

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _config(path):
    return Config.fromfile(osp.join(REPO, path))


@pytest.mark.parametrize('algo,config', [
    ('byol', 'configs/selfsup/byol_resnet18_1xb4-30it_sim-demo.py'),
    ('densecl', 'configs/selfsup/densecl_resnet18_1xb4-30it_sim-demo.py'),
    ('anaus', 'configs/anaus/anaus_resnet18_1xb4-30it_sim-demo.py')])
def test_resnet18_models_are_the_configs_models(algo, config):
    # the GPU benchmark's recipes keep the demo configs' models
    assert model_cfg(algo, 'resnet18', 224) == _config(config).model.to_dict()
    assert config_path(algo, 'resnet18') == CONFIGS[(algo, 'resnet18')]


def test_vit_models_follow_the_image_size():
    anaus = model_cfg('anaus', 'vit-b', 128)
    expected = _config('configs/anaus_vit-b_pretrain.py').model.to_dict()
    expected['backbone']['img_size'] = 128
    assert anaus == expected
    mae = model_cfg('mae', 'vit-b', 128)
    assert mae['backbone']['img_size'] == 128
    assert mae['neck']['num_patches'] == 8 * 8
    assert mae['data_preprocessor']['type'] == 'SelfSupDataPreprocessor'
    # BYOL has no ViT-B config: the ANAUS ViT-B backbone, pooled
    byol = model_cfg('byol', 'vit-b', 128)
    assert byol['backbone'] == dict(expected['backbone'],
                                    out_type='avg_featmap')
    assert byol['neck']['in_channels'] == 768
    assert not byol['neck']['with_avg_pool']


def test_wrong_backbone_is_a_config_value_error():
    with pytest.raises(ConfigValueError, match='mae needs a ViT'):
        model_cfg('mae', 'resnet18', 64)
    with pytest.raises(ConfigValueError, match='densecl needs a conv'):
        model_cfg('densecl', 'vit-b', 64)
    with pytest.raises(ConfigValueError, match='unknown algorithm'):
        model_cfg('byoll', 'resnet18', 64)


def test_optimizer_and_views_are_the_configs():
    cfg = _config(CONFIGS[('byol', 'resnet18')])
    wrapper = optim_wrapper_cfg('byol', 'resnet18', 8)
    assert wrapper['type'] == 'OptimWrapper'
    assert wrapper['optimizer']['type'] == 'LARS'
    assert wrapper['optimizer']['lr'] == pytest.approx(
        cfg.optim_wrapper.optimizer.lr * 8 / cfg.auto_scale_lr.base_batch_size)
    assert wrapper['paramwise_cfg'] == cfg.optim_wrapper.paramwise_cfg
    amp = optim_wrapper_cfg('anaus', 'vit-b', 8, amp=True)
    assert amp['type'] == 'AmpOptimWrapper'
    assert amp['optimizer']['type'] == 'AdamW'
    assert views_cfg('vit-b', 96) == dict(
        type='AnatomyPairedViews', size=96, scale=(0.2, 1.0),
        ratio=(3 / 4, 4 / 3), flip_prob=0.5)


def test_options_are_set_on_the_model_config():
    cfg = model_cfg('anaus', 'resnet18', 64, {
        'core_scale': 1.0, 'neck.out_channels': 128,
        'head.predictor.hid_channels': 2048})
    assert cfg['core_scale'] == 1.0
    assert cfg['neck']['out_channels'] == 128
    assert cfg['head']['predictor']['hid_channels'] == 2048
    default = model_cfg('anaus', 'resnet18', 64)
    assert default['neck']['out_channels'] == 64
    assert default['core_scale'] == 0.5


def test_interleaved_steps_train_each_algorithm():
    data = make_batch('anaus', 2, 32)
    assert len(data['inputs']) == 3 and len(make_batch('byol', 2, 32)[
        'inputs']) == 2
    calls = []
    steps = {}
    for algo in ('byol', 'anaus'):
        step = build_step(algo, 'resnet18', 2, 32)
        steps[algo] = (lambda s=step, a=algo: (calls.append(a), s()))
    times = time_interleaved(steps, warmup=1, timed=2)
    assert calls == ['byol', 'anaus'] * 3  # in turn, warm-up included
    assert {k: len(v) for k, v in times.items()} == {'byol': 2, 'anaus': 2}
    assert all(t > 0 for v in times.values() for t in v)


def test_paired_ratio_is_the_median_of_per_round_ratios():
    # the machine slows down from round to round; the per-round ratios are
    # 1.2, 1.25 and 1.5, so their median is 1.25
    byol = [1.0, 2.0, 4.0]
    anaus = [1.2, 2.5, 6.0]
    assert paired_ratio(anaus, byol) == pytest.approx(1.25)
    assert paired_ratio([3.0, 1.0], [1.0, 1.0]) == pytest.approx(2.0)
    with pytest.raises(ValueError, match='as many rounds'):
        paired_ratio([1.0], [1.0, 2.0])


def test_variant_values_are_literals_and_brackets_keep_their_commas():
    name, opts = parse_variant(
        "s3=head.num_scales=3,backbone.out_indices=(1, 2, 3),"
        "neck.in_channels=[128,256,512],core_target=views,core_scale=0.5")
    assert name == 's3'
    assert opts == {'head.num_scales': 3, 'backbone.out_indices': (1, 2, 3),
                    'neck.in_channels': [128, 256, 512],
                    'core_target': 'views', 'core_scale': 0.5}
    for bad, match in [('noopts', 'expected NAME'), ('x=a=1,b', "'b' is not"),
                       ('x=a=[1,2', 'unbalanced'), ('x=a=1)', 'unbalanced')]:
        with pytest.raises(ConfigValueError, match=match):
            parse_variant(bad)


def test_command_line_writes_json(run_tool, tmp_path):
    out = tmp_path / 'speed.json'
    res = run_tool(['tools/analysis_tools/benchmark_pretrain.py', '--algos',
                    'densecl', '--batch-size', '2', '--img-size', '32',
                    '--steps', '10', '--warmup', '1', '--no-memory', '--cpu',
                    '--out', str(out)])
    assert res.returncode == 0, res.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result['settings']['algos'] == ['densecl']
    rows = {r['algo']: r for r in result['results']}
    assert list(rows) == ['byol', 'densecl']  # BYOL is the reference row
    for algo, row in rows.items():
        assert row['config'] == CONFIGS[(algo, 'resnet18')]
        assert len(row['step_s_all']) == 10
        assert row['step_s'] == min(row['step_s_all'])
        assert {'step_s_median', 'peak_mib', 'memory', 'device',
                'step_ratio_to_byol', 'memory_ratio_to_byol'} <= set(row)
    assert rows['byol']['step_ratio_to_byol'] == 1.0
    assert rows['byol']['paired_ratio_to_byol'] == 1.0
    assert rows['densecl']['paired_ratio_to_byol'] == paired_ratio(
        rows['densecl']['step_s_all'], rows['byol']['step_s_all'])
    assert 'paired x' in res.stdout
    res = run_tool(['tools/analysis_tools/benchmark_pretrain.py', '--algos',
                    'mae', '--backbone', 'resnet18', '--img-size', '32',
                    '--no-memory', '--cpu'])
    assert res.returncode == 2
    assert 'mae needs a ViT backbone' in res.stderr
