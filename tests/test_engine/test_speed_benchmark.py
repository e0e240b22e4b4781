"""anaus_mm.benchmark.speed: model options reach the model config,
interleaved timing gives every algorithm its steps."""

from anaus_mm.benchmark.speed import (build_step, make_batch, model_cfg,
                                      time_interleaved)


def test_options_are_set_on_the_model_config():
    cfg = model_cfg('anaus', 'resnet18', 64, {
        'core_scale': 0.5, 'neck.out_channels': 64,
        'head.predictor.hid_channels': 1024})
    assert cfg['core_scale'] == 0.5
    assert cfg['neck']['out_channels'] == 64
    assert cfg['head']['predictor']['hid_channels'] == 1024
    assert model_cfg('anaus', 'resnet18', 64)['neck']['out_channels'] == 128


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
