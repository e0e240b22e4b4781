"""Summary statistics for repeated downstream runs (folds x seeds).

* :func:`mean_std`: mean and sample standard deviation of the runs.
* :func:`paired_difference`: mean of the paired differences ``a - b`` over
  the same (fold, seed) runs with a two-sided Student-t confidence interval
  (``mean ± t(1 - alpha/2, n - 1) * sd / sqrt(n)``, sd with ddof=1). The
  gap is called real when the interval excludes 0. Folds share training
  data, so the runs are not fully independent and the interval is somewhat
  optimistic (Nadeau & Bengio, 2003); it is still the usual yardstick.
"""
import math

__all__ = ['mean_std', 'paired_difference']


def _clean(values):
    out = []
    for v in values:
        try:
            v = float(v)
        except (TypeError, ValueError):
            continue
        if not math.isnan(v):
            out.append(v)
    return out


def mean_std(values):
    """``(mean, sample std, n)`` of the numeric, non-NaN values; ``(None,
    None, 0)`` when there are none; std 0.0 for one value."""
    vals = _clean(values)
    n = len(vals)
    if not n:
        return None, None, 0
    mu = sum(vals) / n
    sd = math.sqrt(sum((v - mu) ** 2 for v in vals) / (n - 1)) if n > 1 \
        else 0.0
    return mu, sd, n


def paired_difference(a, b, confidence=0.95):
    """Mean paired difference ``a - b`` with a t confidence interval.

    Args:
        a (dict | Sequence): the metric of method A per run (a dict keyed by
            run, e.g. ``(fold, seed)``, or a sequence aligned with ``b``).
        b (dict | Sequence): the same for method B.
        confidence (float): coverage of the interval.

    Returns:
        dict: ``n`` (pairs where both are defined), ``mean``, ``sd``,
        ``t`` (critical value), ``half_width``, ``low``, ``high`` and
        ``significant`` (interval excludes 0). With fewer than two pairs the
        interval fields are None and ``significant`` is False.
    """
    from scipy import stats
    if isinstance(a, dict):
        keys = [k for k in a if k in b]
        pairs = [(a[k], b[k]) for k in keys]
    else:
        if len(a) != len(b):
            raise ValueError(f'{len(a)} values of A but {len(b)} of B')
        pairs = list(zip(a, b))
    diffs = []
    for x, y in pairs:
        x, y = _clean([x]), _clean([y])
        if x and y:
            diffs.append(x[0] - y[0])
    mu, sd, n = mean_std(diffs)
    out = dict(n=n, mean=mu, sd=sd, t=None, half_width=None, low=None,
               high=None, significant=False, confidence=confidence)
    if n >= 2:
        t = float(stats.t.ppf(0.5 + confidence / 2, n - 1))
        half = t * sd / math.sqrt(n)
        out.update(t=t, half_width=half, low=mu - half, high=mu + half,
                   significant=bool(mu - half > 0 or mu + half < 0))
    return out
