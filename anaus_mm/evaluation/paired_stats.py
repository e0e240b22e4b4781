"""Summary statistics for repeated downstream runs (folds x seeds).

* :func:`mean_std`: mean and sample standard deviation of the runs.
* :func:`paired_difference`: mean of the paired differences ``a - b`` over
  the same (fold, seed) runs with the two-sided paired Student-t confidence
  interval of :func:`scipy.stats.ttest_rel` (``mean ± t(1 - alpha/2, n - 1)
  * sd / sqrt(n)``, sd with ddof=1). The gap is called real when the interval excludes 0. Folds share training
  data, so the runs are not fully independent and the interval is somewhat
  optimistic (Nadeau & Bengio, 2003); it is still the usual yardstick.
* :func:`paired_t_power` and :func:`detectable_difference`: the power
  calculation of that test (two-sided paired t, noncentral t distribution):
  the probability that a true gap ``delta`` is called real with ``n`` pairs
  of spread ``sd``, and the smallest gap called real with a given power.
"""
import math
from typing import Dict, Hashable, List, Mapping, Optional, Sequence, Tuple, \
    Union

__all__ = ['mean_std', 'paired_difference', 'paired_t_power',
           'detectable_difference']


def _clean(values) -> List[float]:
    """The values that convert to a non-NaN float, as floats."""
    out = []
    for v in values:
        try:
            v = float(v)
        except (TypeError, ValueError):
            continue
        if not math.isnan(v):
            out.append(v)
    return out


def mean_std(
        values: Sequence) -> Tuple[Optional[float], Optional[float], int]:
    """Mean and sample standard deviation of the numeric, non-NaN values.

    Args:
        values (Sequence): run results; entries that are not numbers or are
            NaN are left out.

    Returns:
        tuple: ``(mean, sample std, n)``; ``(None, None, 0)`` when no value
        is left; std 0.0 for one value.
    """
    vals = _clean(values)
    n = len(vals)
    if not n:
        return None, None, 0
    mu = sum(vals) / n
    sd = math.sqrt(sum((v - mu) ** 2 for v in vals) / (n - 1)) if n > 1 \
        else 0.0
    return mu, sd, n


def paired_difference(a: Union[Mapping[Hashable, object], Sequence],
                      b: Union[Mapping[Hashable, object], Sequence],
                      confidence: float = 0.95) -> Dict[str, object]:
    """Mean paired difference ``a - b`` with a paired t confidence interval.

    The interval is :func:`scipy.stats.ttest_rel`'s
    ``confidence_interval(confidence_level=confidence)`` over the pairs where
    both values are defined. When all differences are equal (sd 0) the
    interval is the single point ``mean``.

    Args:
        a (dict | Sequence): the metric of method A per run (a dict keyed by
            run, e.g. ``(fold, seed)``, or a sequence aligned with ``b``).
        b (dict | Sequence): the same for method B.
        confidence (float): coverage of the interval. Defaults to 0.95.

    Returns:
        dict: ``n`` (pairs where both are defined), ``mean``, ``sd``,
        ``t`` (critical value), ``half_width``, ``low``, ``high``,
        ``significant`` (interval excludes 0) and ``confidence``. With fewer
        than two pairs the interval fields are None and ``significant`` is
        False.

    Raises:
        ValueError: ``a`` and ``b`` are sequences of different lengths.
    """
    from scipy import stats
    if isinstance(a, Mapping):
        pairs = [(a[k], b[k]) for k in a if k in b]
    else:
        if len(a) != len(b):
            raise ValueError(f'{len(a)} values of A but {len(b)} of B')
        pairs = list(zip(a, b))
    xs, ys = [], []
    for x, y in pairs:
        x, y = _clean([x]), _clean([y])
        if x and y:
            xs.append(x[0])
            ys.append(y[0])
    mu, sd, n = mean_std([x - y for x, y in zip(xs, ys)])
    out = dict(n=n, mean=mu, sd=sd, t=None, half_width=None, low=None,
               high=None, significant=False, confidence=confidence)
    if n >= 2:
        t = float(stats.t.ppf(0.5 + confidence / 2, n - 1))
        if sd > 0:
            ci = stats.ttest_rel(xs, ys).confidence_interval(
                confidence_level=confidence)
            low, high = float(ci.low), float(ci.high)
        else:  # ttest_rel's statistic is inf / NaN without spread
            low = high = mu
        out.update(t=t, half_width=(high - low) / 2, low=low, high=high,
                   significant=bool(low > 0 or high < 0))
    return out


def paired_t_power(delta: float, sd: float, n: int,
                   alpha: float = 0.05) -> Optional[float]:
    """Power of the two-sided paired t-test at level ``alpha``.

    The probability that ``n`` pairs whose differences have mean ``delta``
    and standard deviation ``sd`` give an interval that excludes 0:
    ``P(|T| > t(1 - alpha/2, n - 1))`` with ``T`` noncentral t of ``n - 1``
    degrees of freedom and noncentrality ``delta * sqrt(n) / sd``.

    Args:
        delta (float): the true mean difference.
        sd (float): standard deviation of the paired differences (> 0).
        n (int): number of pairs.
        alpha (float): 1 - the interval's confidence. Defaults to 0.05.

    Returns:
        float | None: the power; None with fewer than two pairs or sd <= 0.
    """
    from scipy import stats
    if n < 2 or not sd or sd <= 0:
        return None
    df = n - 1
    crit = float(stats.t.ppf(1 - alpha / 2, df))
    nc = abs(delta) * math.sqrt(n) / sd
    upper = float(stats.nct.sf(crit, df, nc))
    # scipy returns NaN for the far lower tail of a large noncentrality,
    # where the probability is below 1e-16
    lower = float(stats.nct.cdf(-crit, df, nc))
    return upper + (0.0 if math.isnan(lower) else lower)


def detectable_difference(sd: float, n: int, alpha: float = 0.05,
                          power: float = 0.8) -> Optional[float]:
    """Smallest true gap the paired t-test calls real with ``power``.

    Solves :func:`paired_t_power` ``(delta, sd, n, alpha) = power`` for
    ``delta`` (:func:`scipy.optimize.brentq`).

    Args:
        sd (float): standard deviation of the paired differences (> 0).
        n (int): number of pairs.
        alpha (float): 1 - the interval's confidence. Defaults to 0.05.
        power (float): the required power, in (alpha, 1). Defaults to 0.8.

    Returns:
        float | None: the gap (same unit as ``sd``); None with fewer than
        two pairs or sd <= 0.
    """
    from scipy.optimize import brentq
    if n < 2 or not sd or sd <= 0:
        return None
    if not alpha < power < 1:
        raise ValueError(f'power must lie in (alpha={alpha}, 1), got {power}')
    hi = sd
    while paired_t_power(hi, sd, n, alpha) < power:
        hi *= 2
    return float(brentq(lambda d: paired_t_power(d, sd, n, alpha) - power,
                        0.0, hi, xtol=1e-9))
