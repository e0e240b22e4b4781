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
