from .delta_ttt import (METRIC_DIRECTIONS, PRIMARY_KEYS, delta_ttt,
                        metric_direction, relative_change)
from .metrics import DeltaTTTMetric, MultiTaskMetric

__all__ = [
    'MultiTaskMetric', 'DeltaTTTMetric', 'METRIC_DIRECTIONS', 'PRIMARY_KEYS', 'delta_ttt',
    'metric_direction', 'relative_change'
]
