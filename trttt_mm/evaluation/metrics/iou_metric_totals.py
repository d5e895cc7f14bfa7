"""mmseg's ``IoUMetric`` in the monitor's incremental form.

:class:`TTTMonitorHook` keeps running metrics with O(1) work per batch
through ``reduce`` / ``merge`` / ``compute_from_totals`` (the API of
:class:`MultiTaskMetric`), and :class:`DeltaTTTMetric` evaluates the base and
the adapted predictions with a private copy of the user's metric. mmseg's
``IoUMetric`` keeps per-sample area histograms, which add up: this module
gives it that API without changing it, and computes exactly what its
``compute_metrics`` returns (the same ``total_area_to_metrics`` and rounding),
with its per-class table logged only when asked for and under a title
(the evaluator's own ``IoUMetric`` already logs the adapted model's).
"""
import copy
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.logging import print_log
from mmengine.structures import BaseDataElement
from prettytable import PrettyTable

from mmseg.evaluation import IoUMetric


def as_metric_inputs(data_samples: Sequence[Any]) -> List[Any]:
    """Data samples as mmengine's ``Evaluator.process`` hands them to a
    metric: ``BaseDataElement`` s as dicts (``to_dict()``), others as they
    are."""
    return [s.to_dict() if isinstance(s, BaseDataElement) else s
            for s in data_samples]


def private_copy(metric, where: str):
    """A copy of ``metric`` that evaluates beside the evaluator's own
    without side effects: no per-class logging, no prediction files (an
    ``IoUMetric``'s ``output_dir`` would be overwritten with another
    model's predictions).

    Raises:
        ValueError: for an ``IoUMetric`` with ``format_only`` (it keeps no
            ground truth, so nothing can be compared).
    """
    metric = copy.deepcopy(metric)
    metric.results = []
    if hasattr(metric, 'log_per_class'):
        metric.log_per_class = False
    if isinstance(metric, IoUMetric):
        if metric.format_only:
            raise ValueError(
                f'{where}: the test evaluator\'s IoUMetric has '
                'format_only=True (predictions are written, nothing is '
                'evaluated), so there is no metric to compare the adapted '
                'model with; set format_only=False')
        metric.output_dir = None
    return metric


class IoUMetricTotals:
    """``reduce`` / ``merge`` / ``compute_from_totals`` for an
    ``IoUMetric``.

    Totals are the four summed per-class area histograms (intersection,
    union, prediction, label), a tuple of ``(num_classes,)`` tensors, or
    ``()`` before any sample.

    Args:
        metric: The ``IoUMetric`` (its ``metrics``, ``nan_to_num``, ``beta``
            and ``dataset_meta['classes']`` are read when computing).
    """

    def __init__(self, metric: IoUMetric):
        if not isinstance(metric, IoUMetric):
            raise TypeError(f'IoUMetricTotals needs an IoUMetric, got '
                            f'{type(metric).__name__}')
        self.metric = metric

    @staticmethod
    def reduce(results: list) -> tuple:
        """Sum per-sample results (items of ``IoUMetric.results``)."""
        if not results:
            return ()
        return tuple(
            torch.stack([r[i] for r in results]).sum(0) for i in range(4))

    @staticmethod
    def merge(a: tuple, b: tuple) -> tuple:
        """Elementwise sum of two totals (either may be empty)."""
        if not a:
            return tuple(t.clone() for t in b)
        if not b:
            return tuple(t.clone() for t in a)
        return tuple(x + y for x, y in zip(a, b))

    def per_class(self, totals: tuple) -> Dict[str, np.ndarray]:
        """``IoUMetric.total_area_to_metrics`` of the totals."""
        m = self.metric
        return m.total_area_to_metrics(*totals, m.metrics, m.nan_to_num,
                                       m.beta)

    def compute_from_totals(self, totals: tuple,
                            log: bool = False,
                            title: Optional[str] = None) -> Dict[str, float]:
        """What ``IoUMetric.compute_metrics`` returns for these totals
        (``aAcc``, ``mIoU``, ``mAcc``, ...: percent, two decimals).

        Args:
            totals: As :meth:`reduce` returns (non-empty).
            log: Log the per-class table (under ``title``).
            title: The table's title line.
        """
        if not totals:
            raise ValueError('IoUMetricTotals: no sample was evaluated')
        ret = self.per_class(totals)
        metrics: Dict[str, float] = {}
        for key, value in ret.items():
            summary = float(np.round(np.nanmean(value) * 100, 2))
            metrics[key if key == 'aAcc' else 'm' + key] = summary
        if log:
            table = PrettyTable()
            table.add_column('Class', list(self.metric.dataset_meta[
                'classes']))
            for key, value in ret.items():
                if key != 'aAcc':
                    table.add_column(key, np.round(value * 100, 2))
            print_log(f'{title or "per class results"}:\n'
                      f'{table.get_string()}', logger='current')
        return metrics

    def compute_metrics(self, results: list, log: bool = False,
                        title: Optional[str] = None) -> Dict[str, float]:
        """:meth:`compute_from_totals` of :meth:`reduce` ``(results)``."""
        return self.compute_from_totals(self.reduce(results), log, title)


def incremental_api(metric) -> Optional[Any]:
    """The object with ``reduce`` / ``merge`` / ``compute_from_totals`` for
    ``metric``: the metric itself (:class:`MultiTaskMetric`), an
    :class:`IoUMetricTotals` for mmseg's ``IoUMetric``, or None."""
    if all(callable(getattr(metric, n, None))
           for n in ('reduce', 'merge', 'compute_from_totals')):
        return metric
    if isinstance(metric, IoUMetric):
        return IoUMetricTotals(metric)
    return None

