"""trttt_mm.benchmark.stats: mean ± sample std and its format."""
import pytest

from trttt_mm.benchmark.stats import fmt_ms, mean_std


def test_mean_std_and_format():
    m, s = mean_std([2.0, None, 4.0])
    assert (m, s) == (3.0, pytest.approx(2 ** 0.5))  # sample std
    assert mean_std([5]) == (5.0, 0.0)
    assert mean_std([None]) == (None, None)
    assert fmt_ms(3.0, 2 ** 0.5, 2, signed=True) == '+3.00 ± 1.41'
    assert fmt_ms(-1.0, 0.0, 1, signed=True) == '-1.0 ± 0.0'
    assert fmt_ms(0.4, 0.0, 3) == '0.400 ± 0.000'
    assert fmt_ms(None, None) == '—'
