"""Time whole pre-training steps of ANAUS against BYOL, DenseCL and MAE.

The models and optimizers are the project's configs
(``anaus_mm.benchmark.speed.CONFIGS``: the GPU benchmark's ResNet-18 recipes
in ``configs/benchmark_ssl/pretrain_gpu/``, ANAUS ViT-B
``configs/anaus_vit-b_pretrain.py``, MAE ``pretrain_gpu/mae_vit-b_224-gpu.py``)
with the backbone, image size and batch of the flags. Every algorithm gets
the same backbone, batch and resolution, the batch already in memory, so a
step is forward + backward + the config's optimizer + EMA/queue updates.
The models take their steps in turn in one process (robust ratios on a
shared machine); of ``--steps`` (>= 10) timed steps
the fastest is the step time (the least disturbed by other processes; the
median is printed next to it) and the *paired* ratio (median over rounds of
the step over BYOL's step of the same round) is the ratio to quote on a
shared machine; peak memory is measured in a fresh process per algorithm.
``--variant NAME=key=value,...`` adds ANAUS with model options (e.g. a
cheaper preset) as another row. The logic is
:mod:`anaus_mm.benchmark.speed`.

Examples::

    python tools/analysis_tools/benchmark_pretrain.py --algos anaus byol \
        densecl --backbone resnet18 --batch-size 8 --img-size 128 --steps 10
    python tools/analysis_tools/benchmark_pretrain.py --algos anaus byol \
        --variant fast=core_scale=0.5,neck.out_channels=64,projector.in_channels=64
"""
import argparse
import json
import subprocess
import sys

import anaus_mm  # noqa: F401  (compatibility fixes first)
from anaus_mm.benchmark.speed import (ALGOS, build_step, config_path,
                                      measure_memory, median, paired_ratio,
                                      parse_variant as parse_speed_variant,
                                      time_interleaved)
from anaus_mm.utils.cli import CLIError, run_cli


def parse_variant(text):
    """``NAME=key=value,...`` -> (``anaus[NAME]``, {key: value})."""
    name, options = parse_speed_variant(text)
    return f'anaus[{name}]', options


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--algos', nargs='+', default=list(ALGOS), choices=ALGOS)
    p.add_argument('--variant', action='append', default=[],
                   metavar='NAME=key=value,...',
                   help='ANAUS with model options, as an extra row '
                   '(repeatable)')
    p.add_argument('--backbone', default='resnet18',
                   choices=['resnet18', 'vit-b'])
    p.add_argument('--batch-size', type=int, default=8)
    p.add_argument('--img-size', type=int, default=128)
    p.add_argument('--steps', type=int, default=10,
                   help='timed steps (>= 10)')
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--no-memory', action='store_true',
                   help='skip the per-algorithm memory processes')
    p.add_argument('--out', help='write the results as JSON here')
    p.add_argument('--cpu', action='store_true', help='ignore CUDA')
    p.add_argument('--amp', action='store_true',
                   help='bf16 autocast (AmpOptimWrapper, CUDA only)')
    p.add_argument('--memory-worker', help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.steps < 10:
        raise CLIError(f'--steps must be >= 10 (got {args.steps}): the '
                       'median of fewer steps is too noisy')
    if args.batch_size < 2 or args.img_size < 32:
        raise CLIError('--batch-size must be >= 2 and --img-size >= 32')
    if args.img_size % 32:
        raise CLIError(f'--img-size must be a multiple of 32, got '
                       f'{args.img_size}')
    return args


def main(argv=None):
    import torch
    args = parse_args(argv)
    cuda = torch.cuda.is_available() and not args.cpu
    if args.amp and not cuda:
        raise CLIError('--amp needs a CUDA GPU')
    device = 'cuda' if cuda else 'cpu'
    rows = {a: (a, {}) for a in dict.fromkeys(['byol'] + args.algos)}
    for text in args.variant:
        name, options = parse_variant(text)
        rows[name] = ('anaus', options)

    def step_of(name):
        algo, options = rows[name]
        return build_step(algo, args.backbone, args.batch_size,
                          args.img_size, options, args.amp, device)

    if args.memory_worker:  # one algorithm in this fresh process
        peak, kind = measure_memory(step_of(args.memory_worker),
                                    device=device)
        print(json.dumps(dict(peak_mib=peak, memory=kind)))
        return 0
    print(f'[benchmark] building {", ".join(rows)} ...', file=sys.stderr,
          flush=True)
    times = time_interleaved({n: step_of(n) for n in rows}, args.warmup,
                             args.steps)
    results = []
    for name in rows:
        peak, kind = float('nan'), 'not measured'
        if not args.no_memory:
            print(f'[benchmark] memory of {name} ...', file=sys.stderr,
                  flush=True)
            cmd = [sys.executable, __file__, '--memory-worker', name,
                   '--backbone', args.backbone, '--batch-size',
                   str(args.batch_size), '--img-size', str(args.img_size),
                   '--algos'] + args.algos + sum(
                       (['--variant', v] for v in args.variant), [])
            cmd += ['--amp'] * args.amp + ['--cpu'] * args.cpu
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                tail = proc.stderr.strip().splitlines()[-1:] or ['?']
                raise CLIError(f'{name} failed: {tail[0]}')
            mem = json.loads(proc.stdout.strip().splitlines()[-1])
            peak, kind = mem['peak_mib'], mem['memory']
        results.append(dict(algo=name, options=rows[name][1],
                            config=config_path(rows[name][0],
                                               args.backbone),
                            step_s=min(times[name]),
                            step_s_median=median(times[name]),
                            step_s_all=times[name], peak_mib=peak,
                            memory=kind, device=device))
    ref = results[0]  # byol
    for r in results:
        r['step_ratio_to_byol'] = r['step_s'] / ref['step_s']
        r['paired_ratio_to_byol'] = paired_ratio(r['step_s_all'],
                                                 ref['step_s_all'])
        r['memory_ratio_to_byol'] = (r['peak_mib'] / ref['peak_mib']
                                     if ref['peak_mib'] > 0 else float('nan'))
    print(f'backbone={args.backbone} batch={args.batch_size} '
          f'img={args.img_size} steps={args.steps} (fastest step, '
          f'interleaved) '
          f'device={device} memory={results[0]["memory"]}')
    width = max(10, max(len(r['algo']) for r in results) + 2)
    print(f'{"algo":<{width}}{"step s":>10}{"x BYOL":>9}{"median s":>10}'
          f'{"paired x":>10}{"peak MiB":>11}{"x BYOL":>9}')
    for r in results:
        print(f'{r["algo"]:<{width}}{r["step_s"]:>10.3f}'
              f'{r["step_ratio_to_byol"]:>9.2f}{r["step_s_median"]:>10.3f}'
              f'{r["paired_ratio_to_byol"]:>10.2f}'
              f'{r["peak_mib"]:>11.1f}{r["memory_ratio_to_byol"]:>9.2f}')
    print('paired x = median over rounds of (step / BYOL step of the same '
          'round): the robust ratio on a shared machine')
    for text in args.variant:
        name, options = parse_variant(text)
        print(f'{name}: {options}')
    if args.out:
        from anaus_mm.utils.io import atomic_write_text
        atomic_write_text(args.out, json.dumps(
            dict(settings=vars(args), results=results), indent=2))
    return 0


if __name__ == '__main__':
    run_cli(main)
