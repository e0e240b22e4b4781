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


def _manager_instances():
    """{ManagerMixin subclass: its instance dict} (loggers, message hubs,
    visualizers, default scopes)."""
    from mmengine.utils import ManagerMixin
    todo, out = [ManagerMixin], {}
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if '_instance_dict' in vars(cls):
            out[cls] = cls._instance_dict
    return out


def _run_tool_in_process(args, cwd=REPO_ROOT, env=None, timeout=600):
    """Run ``tools/...`` as ``__main__`` in this interpreter, the way
    ``python tools/... args`` would, and return a CompletedProcess.

    Saves the ~5 s interpreter start and imports of a subprocess. Exit
    status, stdout and stderr are what the subprocess would give: SystemExit
    codes are the return code, an uncaught exception prints its traceback
    to stderr with code 1, warnings are ignored (``PYTHONWARNINGS=ignore``).
    The working directory, ``sys.argv``, ``sys.path``, the environment,
    torch's thread count are restored afterwards. Like a fresh interpreter,
    the run starts without mmengine instances (loggers, message hubs,
    visualizers, scopes): those of earlier tests are set aside and put back
    after the run, whose own are dropped (their log files closed), so a
    second run in the same second does not log into the first one's files.
    ``timeout`` is not enforced.
    """
    import contextlib
    import io
    import runpy
    import subprocess
    import traceback
    import warnings

    import torch
    out, err = io.StringIO(), io.StringIO()
    # a fresh interpreter has no mmengine instances: set the existing ones
    # aside (a visualizer named 'visualizer' left by an earlier test would
    # otherwise be reused with its own save_dir) and put them back after
    before = {cls: d.copy() for cls, d in _manager_instances().items()}
    for cls in before:
        cls._instance_dict.clear()
    saved = (os.getcwd(), sys.argv[:], sys.path[:], dict(os.environ),
             torch.get_num_threads())
    code = 0
    try:
        os.chdir(cwd)
        os.environ.update(env or {})
        sys.argv = [str(a) for a in args]
        with contextlib.redirect_stdout(out), \
                contextlib.redirect_stderr(err), warnings.catch_warnings():
            warnings.simplefilter('ignore')
            # what a fresh interpreter's 'current' logger is: one writing
            # to this run's stdout (not a logger an earlier test left
            # behind, bound to a stream that is closed by now)
            from mmengine.logging import MMLogger
            MMLogger.get_instance(f'run_tool_{id(out)}',
                                  logger_name='mmengine')
            try:
                runpy.run_path(osp.join(cwd, sys.argv[0]),
                               run_name='__main__')
            except SystemExit as e:
                if e.code is None or isinstance(e.code, int):
                    code = e.code or 0
                else:  # sys.exit('message'): printed, status 1
                    print(e.code, file=sys.stderr)
                    code = 1
            except Exception:
                traceback.print_exc()
                code = 1
    finally:
        cwd0, sys.argv, sys.path, environ, threads = saved
        os.chdir(cwd0)
        os.environ.clear()
        os.environ.update(environ)
        torch.set_num_threads(threads)
        for cls, d in _manager_instances().items():
            for inst in d.values():
                for h in getattr(inst, 'handlers', [])[:]:
                    if hasattr(h, 'baseFilename'):  # the run's log file
                        h.close()
                        inst.removeHandler(h)
            d.clear()
            d.update(before.get(cls, {}))
    return subprocess.CompletedProcess(
        [sys.executable] + [str(a) for a in args], code, out.getvalue(),
        err.getvalue())


@pytest.fixture(scope='session')
def run_tool():
    """``run_tool(['tools/train.py', cfg, ...])`` -> CompletedProcess (text
    stdout/stderr), run from the repo root in this interpreter
    (:func:`_run_tool_in_process`); ``isolated=True`` runs it in a
    subprocess with the venv's python instead (for what needs a fresh
    interpreter: import-time behaviour, environment read at import, kill).
    """
    def run(args, cwd=REPO_ROOT, env=None, timeout=600, isolated=False):
        fn = _run_tool if isolated else _run_tool_in_process
        return fn(args, cwd=cwd, env=env, timeout=timeout)
    return run


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

