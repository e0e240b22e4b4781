"""Shared fixtures. ``import anaus_mm`` comes first: it arranges that the
compatibility fixes are installed before anything imports mmseg and that our
modules register into the mmpretrain / mmseg registries when those are first
searched (:mod:`anaus_mm.registry`)."""
import os
import os.path as osp
import sys

import anaus_mm  # noqa: F401
import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
os.environ.setdefault('OMP_NUM_THREADS', '2')


@pytest.fixture(scope='session')
def repo_root():
    return REPO_ROOT


@pytest.fixture(scope='session')
def sim_data_dir(tmp_path_factory):
    """A small simulated ultrasound set (8 images, 128x128, seed 0) in the
    simulator's layout: images/, masks/, labels.csv, meta.json."""
    from anaus_mm.datasets.simulation import simulate_dataset
    out = tmp_path_factory.mktemp('sim') / 'data'
    simulate_dataset(str(out), num=8, seed=0, workers=1, size=128,
                     progress=False)
    assert len(os.listdir(out / 'images')) == len(os.listdir(out / 'masks')) \
        == 8, 'the simulator did not write the 8 fixture pairs'
    return str(out)


def _run_tool(args, cwd=REPO_ROOT, env=None, timeout=600):
    """Run ``python tools/...`` in a subprocess and return the result."""
    import subprocess
    full_env = dict(os.environ, PYTHONWARNINGS='ignore')
    full_env.update(env or {})
    return subprocess.run([sys.executable] + list(args), cwd=cwd,
                          env=full_env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope='session')
def run_tool():
    """``run_tool(['tools/train.py', cfg, ...])`` -> CompletedProcess (text
    stdout/stderr), run with the venv's python from the repo root."""
    return _run_tool


@pytest.fixture(autouse=True)
def _isolated_default_scope():
    """Every test starts with the default scope the session started with.

    Runners, inferencers and ``init_default_scope`` leave mmengine's global
    default scope behind (e.g. ``mmseg`` after an LP-SAM inferencer), which
    would make a later ``mmpretrain`` build look in the wrong registry and
    the outcome depend on test order.
    """
    from mmengine.registry import DefaultScope
    saved = DefaultScope._instance_dict.copy()
    yield
    DefaultScope._instance_dict = saved

