"""Generate a simulated ultrasound dataset (pymust) with anatomy masks.

Example::

    python tools/dataset_converters/simulate_us.py --out data/sim --num 300 \
        --seed 0 --workers 2 --size 256 --probe convex

Benchmark data that is hard where real ultrasound is hard (isoechoic and
mixed-echo lesions, per-image gain / TGC / dynamic range / speckle size,
shadows and reverberation across the anatomy, texture-defined tissues)::

    python tools/dataset_converters/simulate_us.py --out data/sim_hard \
        --num 600 --size 128 --seed 100 --workers 2 --preset hard

Every option of a preset can be set on its own (``--gain-db 3``,
``--lesion-echo iso=1``, ...; see ``--help`` and
:mod:`anaus_mm.datasets.simulation.difficulty`); without them the output is
byte-identical to earlier versions.

Writes ``images/*.png``, ``masks/*.png``, ``labels.csv`` and ``meta.json``
(see :mod:`anaus_mm.datasets.simulation`; the difficulty options are
recorded in ``meta.json``). Rerunning the same command after an
interruption continues where it stopped; a larger ``--num`` with the same
settings extends the set; a folder made with other settings (options
included) is refused.
"""
import argparse
import os
import sys
from typing import Dict, List, Optional

PROG = 'simulate_us.py'

#: The individual difficulty options: flag -> (option name, help).
KNOBS = {
    'lesion-echo': ('lesion_echo', 'weights of the lesion echo patterns, '
                    'e.g. "hypo=0.3,iso=0.4,mixed=0.3"'),
    'iso-texture-db': ('iso_texture_db', 'heterogeneity (dB std) of an '
                       'isoechoic lesion'),
    'iso-lesion-density': ('iso_lesion_density', 'scatterer density factor '
                           'inside isoechoic lesions (0, 1]'),
    'fat-density': ('fat_density', 'scatterer density factor of '
                    'subcutaneous fat (0, 1]'),
    'tissue-contrast': ('tissue_contrast', 'factor on the mean tissue '
                        'echogenicity offsets (1 = original)'),
    'gain-db': ('gain_db', 'per-image gain offset, uniform in +-this'),
    'tgc-db': ('tgc_db', 'per-image TGC error, each of 5 knots in +-this'),
    'dynamic-range-db': ('dynamic_range_db', 'displayed dynamic range: one '
                         'value or LOW,HIGH (uniform per image)'),
    'speckle-scale': ('speckle_scale', 'speckle size factor: one value or '
                      'LOW,HIGH (uniform per image, >= 1)'),
    'shadow-prob': ('shadow_prob', 'probability of artefact shadows'),
    'reverb-prob': ('reverb_prob', 'probability of reverberation'),
}


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
    parser.add_argument('--preset', default=None,
                        help='difficulty preset: "default" (the original '
                        'simulator) or "hard"')
    group = parser.add_argument_group(
        'difficulty options (override the preset\'s values)')
    for flag, (_, text) in KNOBS.items():
        group.add_argument(f'--{flag}', default=None, metavar='V',
                           help=text)
    parser.add_argument('--overwrite', action='store_true',
                        help='replace a set made with other settings')
    parser.add_argument('--quiet', action='store_true',
                        help='no progress lines')
    return parser.parse_args(argv)


def _number(flag: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        fail(f'--{flag} expects a number, got {text!r}')


def knob_values(args) -> Dict[str, object]:
    """The difficulty options given on the command line (parsed)."""
    out: Dict[str, object] = {}
    for flag, (name, _) in KNOBS.items():
        text = getattr(args, name)
        if text is None:
            continue
        if name == 'lesion_echo':
            weights = {}
            for part in text.split(','):
                key, sep, value = part.partition('=')
                if not sep:
                    fail(f'--{flag} expects PATTERN=WEIGHT pairs, got '
                         f'{text!r}')
                weights[key.strip()] = _number(flag, value)
            out[name] = weights
        elif name in ('dynamic_range_db', 'speckle_scale'):
            parts: List[float] = [_number(flag, v) for v in text.split(',')]
            if len(parts) not in (1, 2):
                fail(f'--{flag} expects VALUE or LOW,HIGH, got {text!r}')
            out[name] = (parts[0], parts[-1])
        else:
            out[name] = _number(flag, text)
    return out


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
    knobs = knob_values(args)
    # imported after the argument checks: bad arguments fail at once
    from anaus_mm.datasets.simulation import SimulationError, simulate_dataset
    from anaus_mm.datasets.simulation.difficulty import resolve_options
    try:
        options = resolve_options(args.preset, **knobs)
        summary = simulate_dataset(
            args.out, args.num, seed=args.seed, workers=args.workers,
            size=args.size, probe=args.probe, overwrite=args.overwrite,
            progress=not args.quiet, difficulty=options)
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
