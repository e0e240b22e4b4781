"""Time the ultrasound simulator and project the cost of a full set.

Example (a short run, extrapolated to 300 images)::

    python tools/analysis_tools/benchmark_simulator.py --num 20 --size 256 \
        --workers 2 --target 300

Runs :func:`simulate_dataset` into a temporary directory (deleted unless
``--keep``) and prints images/s, seconds per image and per image-core, the
one-off per-worker set-up and the projected time for ``--target`` images.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--num', type=int, default=300,
                        help='images to simulate in this run')
    parser.add_argument('--size', type=int, default=256)
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--probe', choices=('convex', 'linear'),
                        default='convex')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--target', type=int, default=300,
                        help='set size to project the time for')
    parser.add_argument('--budget-min', type=float, default=15.0,
                        help='time budget (min) for --target images')
    parser.add_argument('--out', default=None,
                        help='output directory (default: a temp dir)')
    parser.add_argument('--keep', action='store_true',
                        help='keep the generated images')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.num < 1 or args.workers < 1:
        print('benchmark_simulator.py: error: --num and --workers must be '
              '>= 1', file=sys.stderr)
        sys.exit(2)
    if args.workers > 1:
        for var in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS',
                    'MKL_NUM_THREADS'):
            os.environ.setdefault(var, '1')
    from anaus_mm.datasets import simulation as sim
    out = args.out or tempfile.mkdtemp(prefix='sim_bench_')
    try:
        # one-off set-up of a process (calibration phantom + DAS matrix)
        start = time.perf_counter()
        sim.simulate_one(0, args.seed, args.size, args.probe)
        first = time.perf_counter() - start
        start = time.perf_counter()
        sim.simulate_one(1, args.seed, args.size, args.probe)
        single = time.perf_counter() - start
        setup = max(first - single, 0.0)

        start = time.perf_counter()
        summary = sim.simulate_dataset(
            out, args.num, seed=args.seed, workers=args.workers,
            size=args.size, probe=args.probe, overwrite=True, progress=True)
        wall = time.perf_counter() - start
    finally:
        if not args.keep and args.out is None:
            shutil.rmtree(out, ignore_errors=True)
    rate = args.num / wall
    # the pool pays the set-up once per worker, in parallel
    steady = max(wall - setup, 1e-9) / args.num
    projected = setup + steady * args.target
    load = os.getloadavg() if hasattr(os, 'getloadavg') else None
    print(f'settings: size={args.size} probe={args.probe} '
          f'workers={args.workers} num={args.num} cpus={os.cpu_count()}'
          + (f' loadavg={load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}'
             if load else ''))
    print(f'in-process: first image {first:.2f}s (incl. set-up '
          f'{setup:.2f}s), next image {single:.2f}s')
    print(f'dataset run: {args.num} images in {wall:.1f}s -> '
          f'{rate:.3f} img/s, {wall / args.num:.2f} s/img, '
          f'{wall * args.workers / args.num:.2f} s per image-core')
    verdict = 'OK' if projected <= args.budget_min * 60 else 'OVER'
    print(f'projected for {args.target} images: {projected / 60:.1f} min '
          f'(budget {args.budget_min:.0f} min: {verdict})')
    return summary


if __name__ == '__main__':
    main()
