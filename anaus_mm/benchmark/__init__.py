"""The SSL benchmark as a library: protocol, k-fold runs, runner, report.

``tools/benchmark_ssl.py`` and ``tools/kfold.py`` are thin command lines over
this package::

    from anaus_mm.benchmark import load_benchmark, make_protocol, run_benchmark
    cfg, methods = load_benchmark('configs/benchmark_ssl/sim_resnet18_demo-cpu.py')
    protocol = make_protocol(cfg, methods, label_fractions=[0.1], seeds=3)
    run_benchmark(cfg, 'configs/...', 'work_dirs/bench', methods, protocol)
"""
from .kfold import run_kfold, set_fold
from .protocol import RunSpec, make_protocol
from .report import write_results
from .runner import Benchmark, load_benchmark, run_benchmark, select

__all__ = ['run_kfold', 'set_fold', 'RunSpec', 'make_protocol',
           'write_results', 'Benchmark', 'load_benchmark', 'run_benchmark',
           'select']
