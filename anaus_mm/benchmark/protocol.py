"""The label-efficiency protocol of the SSL benchmark.

A benchmark run is a grid: methods × downstream tasks × label fractions ×
seeds × folds. :func:`make_protocol` turns a benchmark config (and any
command-line overrides) into the protocol dict the runner and the report
share; :class:`RunSpec` is one (fraction, seed, fine-tuning budget) cell of
a task, and knows its work dir and its ``tools/kfold.py`` arguments.
"""
import os.path as osp
from typing import TYPE_CHECKING, Dict, Iterable, List, Optional

from ..utils.errors import ConfigValueError

if TYPE_CHECKING:
    from mmengine.config import Config

__all__ = ['RunSpec', 'run_iters', 'frac_key', 'frac_text', 'budget_text',
           'protocol_flags', 'default_protocol', 'make_protocol',
           'pretrain_seeds_of']


class RunSpec:
    """One (label fraction, seed, iteration budget) of a task's protocol.

    Args:
        fraction (float): Share of each training fold used for fine-tuning.
        seed (int): Subset / fine-tuning seed index (0 keeps the downstream
            config's ``randomness.seed``).
        iters (int, optional): Fine-tuning iterations; None runs the
            config's own schedule.
        base_seed (int): The downstream config's ``randomness.seed``.
    """

    def __init__(self, fraction: float = 1.0, seed: int = 0,
                 iters: Optional[int] = None, base_seed: int = 0) -> None:
        self.fraction = float(fraction)
        self.seed = int(seed)
        self.iters = iters
        self.base_seed = base_seed

    @property
    def legacy(self) -> bool:
        """The default protocol (100 % labels, seed 0, config schedule)."""
        return self.fraction == 1 and self.seed == 0 and self.iters is None

    @property
    def tag(self) -> str:
        """A short label for progress lines (empty for the default)."""
        if self.legacy:
            return ''
        tag = f' [{frac_text(self.fraction)} labels, seed {self.seed}'
        return tag + (f', {self.iters} it]' if self.iters else ']')

    def work_dir(self, root: str, method: str, task: str) -> str:
        """``root/method/task[/label<F>_seed<S>[_iters<N>]]``."""
        base = osp.join(root, method, task)
        if self.legacy:
            return base
        name = f'label{self.fraction:g}_seed{self.seed}'
        if self.iters is not None:
            name += f'_iters{self.iters}'
        return osp.join(base, name)

    def kfold_args(self) -> List[str]:
        """The ``tools/kfold.py`` arguments of this run."""
        if self.legacy:
            return []
        args = ['--label-fraction', f'{self.fraction:g}', '--subset-seed',
                str(self.seed), '--no-checkpoints']
        if self.seed:
            args += ['--train-seed', str(self.base_seed + self.seed)]
        if self.iters is not None:
            args += ['--iters', str(self.iters)]
        return args


def run_iters(protocol: dict, task_name: str,
              fraction: float) -> Optional[int]:
    """Fine-tuning iterations of a run (None: the config's schedule)."""
    full = protocol['iters'].get(task_name)
    if full is None:
        return None
    if protocol['scaling'] == 'fixed':
        return int(full)
    return max(int(protocol['min_iters']), int(round(fraction * full)))


def frac_key(fraction: float) -> str:
    """The key of a fraction in result dicts (``'0.1'``)."""
    return f'{float(fraction):g}'


def frac_text(fraction: float) -> str:
    """A fraction for people (``'10 %'``)."""
    return f'{100 * float(fraction):g} %'


def budget_text(protocol: dict) -> str:
    """The fine-tuning budget of ``protocol`` in words."""
    if not protocol['iters']:
        return "each downstream config's own schedule"
    its = ', '.join(f'{t} {n}' for t, n in protocol['iters'].items())
    if protocol['scaling'] == 'fixed':
        return f'{its} iterations per run at every fraction'
    return (f'{its} iterations at 100 %, scaled with the fraction '
            f'(at least {protocol["min_iters"]})')


def protocol_flags(protocol: dict) -> str:
    """The ``tools/benchmark_ssl.py`` flags that reproduce ``protocol``."""
    if protocol['fractions'] == [1.0] and protocol['seeds'] == 1:
        return ''
    return (' --label-fractions ' + ' '.join(
        frac_key(f) for f in protocol['fractions']) +
        f' --seeds {protocol["seeds"]}')


def default_protocol() -> dict:
    """100 % labels, one seed, the configs' own schedules."""
    return dict(fractions=[1.0], seeds=1, iters={}, scaling='proportional',
                min_iters=1, reference='anaus', interval='student-t 95 %')


def make_protocol(cfg: 'Config', methods: Iterable[str],
                  label_fractions: Optional[List[float]] = None,
                  seeds: Optional[int] = None,
                  iters_per_run: Optional[int] = None,
                  iters_scaling: Optional[str] = None,
                  reference: Optional[str] = None) -> Dict:
    """The protocol of a benchmark config, with overrides.

    Args:
        cfg (Config): The benchmark config (keys ``downstream`` and the
            optional ``label_fractions``, ``seeds``, ``finetune_iters``,
            ``finetune_iters_scaling``, ``finetune_min_iters``,
            ``reference``).
        methods (Iterable[str]): Names of the methods that run.
        label_fractions, seeds, iters_per_run, iters_scaling, reference:
            Overrides of the config's values (None keeps them).

    Returns:
        dict: ``fractions``, ``seeds``, ``iters`` ({task: N}), ``scaling``,
        ``min_iters``, ``reference`` and ``interval``.

    Raises:
        ConfigValueError: A value out of range, or a reference method that
            does not run.
    """
    methods = list(methods)
    fractions = label_fractions or cfg.get('label_fractions') or [1.0]
    fractions = sorted({float(f) for f in fractions})
    bad = [f for f in fractions if not 0 < f <= 1]
    if bad:
        raise ConfigValueError(f'label fractions must be in (0, 1], got '
                               f'{bad}')
    seeds = seeds if seeds is not None else cfg.get('seeds', 1)
    if int(seeds) < 1:
        raise ConfigValueError(f'--seeds must be >= 1, got {seeds}')
    iters = dict(cfg.get('finetune_iters') or {})
    if iters_per_run is not None:
        if iters_per_run < 1:
            raise ConfigValueError(f'--iters-per-run must be >= 1, got '
                                   f'{iters_per_run}')
        iters = {t: iters_per_run for t in cfg.downstream}
    iters = {t: int(n) for t, n in iters.items() if t in cfg.downstream}
    scaling = iters_scaling or cfg.get('finetune_iters_scaling',
                                       'proportional')
    if scaling not in ('fixed', 'proportional'):
        raise ConfigValueError(f'finetune_iters_scaling must be "fixed" or '
                               f'"proportional", got {scaling!r}')
    reference = reference or cfg.get('reference') or (
        'anaus' if 'anaus' in methods else methods[0])
    if reference not in methods:
        raise ConfigValueError(f'--reference {reference} is not among the '
                               f'methods run: {methods}')
    return dict(fractions=fractions, seeds=int(seeds), iters=iters,
                scaling=scaling,
                min_iters=int(cfg.get('finetune_min_iters', 1)),
                reference=reference, interval='student-t 95 %',
                **pretrain_seeds_of(cfg))


def pretrain_seeds_of(cfg: 'Config') -> Dict[str, List[int]]:
    """``{'pretrain_seeds': [...]}`` from a benchmark config's
    ``pretrain_seeds`` (one pre-training per seed and method), or ``{}``
    when it has none (one pre-training with ``pretrain.seed``).

    Args:
        cfg (Config): The benchmark config.

    Returns:
        Dict[str, List[int]]: ``{'pretrain_seeds': seeds}`` or ``{}``.

    Raises:
        ConfigValueError: The seeds are not distinct integers >= 0.
    """
    seeds = cfg.get('pretrain_seeds')
    if not seeds:
        return {}
    seeds = [int(s) for s in seeds]
    if len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ConfigValueError(f'pretrain_seeds must be distinct integers '
                               f'>= 0, got {seeds}')
    return dict(pretrain_seeds=seeds)
