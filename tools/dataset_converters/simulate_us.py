"""Generate a simulated ultrasound dataset (pymust) with anatomy masks.

Example::

    python tools/dataset_converters/simulate_us.py --out data/sim --num 300 \
        --seed 0 --workers 2 --size 256 --probe convex

Writes ``images/*.png``, ``masks/*.png``, ``labels.csv`` and ``meta.json``
(see :mod:`anaus_mm.datasets.simulation`). Rerunning the same command after
an interruption continues where it stopped; a larger ``--num`` with the
same settings extends the set.
"""
import argparse
import os
import sys

PROG = 'simulate_us.py'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', required=True, help='output directory')
    parser.add_argument('--num', type=int, required=True,
                        help='number of images (>= 1)')
    parser.add_argument('--seed', type=int, default=0, help='set seed')
    parser.add_argument('--workers', type=int, default=1,
                        help='worker processes (1 = in-process)')
    parser.add_argument('--size', type=int, default=256,
                        help='image side in pixels (default 256)')
    parser.add_argument('--probe', choices=('convex', 'linear'),
                        default='convex', help='sector or rectangle image')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace a set made with other settings')
    parser.add_argument('--quiet', action='store_true',
                        help='no progress lines')
    return parser.parse_args(argv)


def fail(message, code=2):
    """Print one error line on stderr and exit."""
    print(f'{PROG}: error: {message}', file=sys.stderr)
    sys.exit(code)


def main(argv=None):
    args = parse_args(argv)
    for name, low in (('num', 1), ('workers', 1), ('seed', 0), ('size', 32)):
        if getattr(args, name) < low:
            fail(f'--{name} must be >= {low} (got {getattr(args, name)})')
    if args.workers > 1:
        # one BLAS thread per worker process: the workers are the
        # parallelism (must be set before numpy is imported)
        for var in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS',
                    'MKL_NUM_THREADS'):
            os.environ.setdefault(var, '1')
    # imported after the argument checks: bad arguments fail at once
    from anaus_mm.datasets.simulation import SimulationError, simulate_dataset
    try:
        summary = simulate_dataset(
            args.out, args.num, seed=args.seed, workers=args.workers,
            size=args.size, probe=args.probe, overwrite=args.overwrite,
            progress=not args.quiet)
    except SimulationError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail('interrupted; rerun the same command to continue', code=130)
    rate = summary['images_per_second']
    print(f"done: {summary['num']} images in {summary['out_dir']} "
          f"({summary['generated']} simulated, {summary['skipped']} "
          f"already there; {summary['seconds']:.1f}s"
          + (f', {rate:.2f} img/s' if rate else '') + '); labels: '
          + ', '.join(f'{k}={v}' for k, v in summary['label_counts'].items()))


if __name__ == '__main__':
    main()
