"""Join the results of separate runs of one SSL benchmark into one report.

A benchmark run of some methods today and of others tomorrow (or in a work
dir that is gone, with its ``results.json`` kept) pairs by (fold, seed) as
if both had run together: the folds and the labelled subsets are fixed by
the benchmark config. Nothing is re-run. Files of different benchmarks
(tasks, folds, pre-training budget or data, label fractions, seeds,
fine-tuning budget) or a method in two files are refused.

Example::

    python tools/analysis_tools/merge_benchmark_results.py \
        docs/benchmarks/anaus_options_r18_cpu_part1.json \
        docs/benchmarks/anaus_options_r18_cpu_part2.json \
        --work-dir work_dirs/anaus_options_all --reference anaus

writes ``results.{json,md,png}`` into ``--work-dir`` (see
:func:`anaus_mm.benchmark.report.merge_results`).
"""
import argparse
import os.path as osp
import shlex
import sys
from typing import List, Optional

from anaus_mm.utils.cli import run_cli


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('results', nargs='+',
                        help='results.json of benchmark_ssl.py runs')
    parser.add_argument('--work-dir', required=True,
                        help='output folder of the merged report')
    parser.add_argument('--reference', default=None,
                        help="reference method (default: the first file's)")
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Merge and print where the report went."""
    args = parse_args(argv)
    from anaus_mm.benchmark.report import merge_results
    command = ' '.join(shlex.quote(a) for a in
                       ['python', 'tools/analysis_tools/'
                        'merge_benchmark_results.py'] +
                       (sys.argv[1:] if argv is None else list(argv)))
    results = merge_results(args.results, args.work_dir, args.reference,
                            command=command)
    print(f'[merge] {len(results)} methods from {len(args.results)} files: '
          f'{", ".join(results)}')
    print(f'[merge] wrote {osp.join(args.work_dir, "results.md")}, '
          'results.json, results.png')
    return 0


if __name__ == '__main__':
    run_cli(main)
