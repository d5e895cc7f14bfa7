"""Summary statistics over seeds and their formatting in the tables."""
import statistics
from typing import Optional, Sequence


def mean_std(values: Sequence[Optional[float]]):
    """Mean and sample standard deviation of the values that are not None
    (0.0 for one value); ``(None, None)`` when there are none."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return None, None
    m = statistics.fmean(vals)
    s = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return m, s


def fmt_ms(m, s, digits: int = 2, signed: bool = False) -> str:
    """``m ± s`` with ``digits`` decimals (``—`` when ``m`` is None)."""
    if m is None:
        return '—'
    sign = '+' if signed else ''
    return f'{m:{sign}.{digits}f} ± {s:.{digits}f}'
