from .delta_ttt_metric import (BASE_PREDICTIONS_KEY, DeltaTTTMetric,
                               load_metrics_json)
from .multi_task_metric import MultiTaskMetric

__all__ = [
    'MultiTaskMetric', 'DeltaTTTMetric', 'BASE_PREDICTIONS_KEY',
    'load_metrics_json'
]
