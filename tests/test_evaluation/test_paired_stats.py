"""Paired intervals of :func:`anaus_mm.evaluation.paired_difference` against
scipy's paired t-test, and the degenerate no-spread case."""
import pytest
from scipy import stats

from anaus_mm.evaluation.paired_stats import paired_difference


@pytest.mark.parametrize('confidence', [0.9, 0.95, 0.99])
def test_interval_is_ttest_rel(confidence):
    a = [71.2, 74.5, 69.9, 73.1, 75.0]
    b = [70.0, 73.9, 70.4, 71.2, 72.8]
    st = paired_difference(a, b, confidence=confidence)
    ci = stats.ttest_rel(a, b).confidence_interval(
        confidence_level=confidence)
    assert (st['low'], st['high']) == pytest.approx((ci.low, ci.high))
    # the same interval written out as mean ± t * sd / sqrt(n)
    assert st['half_width'] == pytest.approx(st['t'] * st['sd'] / 5 ** 0.5)
    assert st['confidence'] == confidence


def test_no_spread_gives_point_interval():
    st = paired_difference([1.0, 2.0, 3.0], [0.0, 1.0, 2.0])
    assert (st['low'], st['high'], st['half_width']) == (1.0, 1.0, 0.0)
    assert st['significant'] is True
    st = paired_difference([1.0, 1.0], [1.0, 1.0])
    assert (st['low'], st['high']) == (0.0, 0.0)
    assert st['significant'] is False


def test_unequal_sequences_refused():
    with pytest.raises(ValueError, match='3 values of A but 2 of B'):
        paired_difference([1, 2, 3], [1, 2])


def test_paired_t_power_matches_simulated_tests():
    """The power formula agrees with the rejection rate of simulated paired
    t-tests (scipy.stats.ttest_rel on 4,000 drawn experiments)."""
    import numpy as np
    from scipy import stats

    from anaus_mm.evaluation.paired_stats import paired_t_power
    rng = np.random.default_rng(0)
    for delta, sd, n in ((3.0, 4.5, 15), (1.0, 2.0, 30), (0.0, 3.0, 10)):
        d = rng.normal(delta, sd, size=(4000, n))
        p = stats.ttest_1samp(d, 0.0, axis=1).pvalue
        expected = paired_t_power(delta, sd, n)
        assert abs((p < 0.05).mean() - expected) < 0.025, (delta, expected)
    # no gap: the power is the test's level
    assert paired_t_power(0.0, 3.0, 10) == pytest.approx(0.05, abs=1e-9)
    # more pairs or less spread: more power
    assert paired_t_power(3, 4.5, 30) > paired_t_power(3, 4.5, 15)
    assert paired_t_power(3, 3.0, 15) > paired_t_power(3, 4.5, 15)
    assert paired_t_power(3, 0.0, 15) is None
    assert paired_t_power(3, 4.5, 1) is None


def test_detectable_difference_inverts_power():
    from anaus_mm.evaluation.paired_stats import (detectable_difference,
                                                  paired_t_power)
    gap = detectable_difference(4.5, 15)
    assert paired_t_power(gap, 4.5, 15) == pytest.approx(0.8, abs=1e-6)
    # large n: the normal approximation (z_0.975 + z_0.8) * sd / sqrt(n)
    assert detectable_difference(4.5, 2000) == pytest.approx(
        (1.959964 + 0.841621) * 4.5 / 2000 ** 0.5, rel=2e-3)
    # a gap scales with the spread
    assert detectable_difference(9.0, 15) == pytest.approx(2 * gap)
    assert detectable_difference(0.0, 15) is None
    with pytest.raises(ValueError, match='power must lie'):
        detectable_difference(4.5, 15, power=0.01)
