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


#: From this magnitude on a value is written in scientific notation (a run
#: whose predictions blew up to huge but finite errors).
HUGE = 1e5


def fmt_ms(m, s, digits: int = 2, signed: bool = False) -> str:
    """``m ± s`` with ``digits`` decimals (``—`` when ``m`` is None;
    scientific notation from :data:`HUGE` on)."""
    if m is None:
        return '—'
    sign = '+' if signed else ''
    if abs(m) >= HUGE or abs(s) >= HUGE:
        return f'{m:{sign}.1e} ± {s:.1e}'
    return f'{m:{sign}.{digits}f} ± {s:.{digits}f}'
