"""Δ_TTT as an evaluator component (``test_evaluator`` entry)."""
import json
import os.path as osp
from typing import Any, Dict, Optional, Sequence, Union

from mmengine.evaluator import BaseMetric
from mmengine.logging import MessageHub, print_log

from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS

from ..delta_ttt import delta_ttt
from .iou_metric_totals import IoUMetricTotals, as_metric_inputs, private_copy

#: Message-hub key under which :class:`TTTMonitorHook` publishes the source
#: model's predictions of the current batch.
BASE_PREDICTIONS_KEY = 'ttt/base_predictions'
BASE_SOURCES = ('monitor', )


@METRICS.register_module()
class DeltaTTTMetric(BaseMetric):
    """Base metrics, per-metric relative changes and Δ_TTT of a test run.

    It evaluates the adapted predictions with an inner metric (by default
    :class:`MultiTaskMetric`; mmseg's ``IoUMetric`` for a plain mmseg
    segmentor) against a baseline and writes ``base/<key>``,
    ``delta/<key>`` (percent, positive = better) and ``delta_ttt``. The
    adapted metrics themselves are left to the inner metric's own entry in
    ``test_evaluator`` (mmengine refuses duplicate keys). With an
    ``IoUMetric`` the base model's per-class table is logged under its own
    title, the adapted model's is left to the evaluator's ``IoUMetric``,
    and no prediction file is written.

    The baseline is either ``'monitor'`` (the unadapted source model's
    predictions of the same batches, published by :class:`TTTMonitorHook`
    with ``eval_source=True``; the per-sample summaries travel with the
    results, so this is exact under DDP) or the path of the metrics JSON of an
    earlier run (e.g. ``tools/test.py`` without a hook).

    Args:
        metric: Inner metric config or instance (its per-class logging is
            switched off).
        base: ``'monitor'`` or a metrics-JSON path.
        keys: Metric keys averaged into Δ_TTT (default: each task's primary
            key present in both).
        collect_device / prefix / collect_dir: as in mmengine.
    """

    def __init__(self,
                 metric: Union[dict, BaseMetric] = dict(type='MultiTaskMetric'),
                 base: str = 'monitor',
                 keys: Optional[Sequence[str]] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix,
                         collect_dir=collect_dir)
        if not isinstance(metric, BaseMetric):
            metric = METRICS.build(metric)
        # quiet, writing no prediction files
        self.inner = private_copy(metric, 'DeltaTTTMetric')
        if not isinstance(base, str) or not base:
            raise ValueError(f"DeltaTTTMetric.base must be 'monitor' or a "
                             f'metrics JSON path, got {base!r}')
        self._base_metrics = None
        if base not in BASE_SOURCES:
            self._base_metrics = load_metrics_json(base)
        self.base = base
        self.keys = None if keys is None else list(keys)

    @property
    def dataset_meta(self) -> Optional[dict]:
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, dataset_meta: dict) -> None:
        self._dataset_meta = dataset_meta
        self.inner.dataset_meta = dataset_meta

    def _summaries(self, data_batch: Any, data_samples: Sequence) -> list:
        self.inner.results.clear()
        # the monitor's base predictions are SegDataSamples: as dicts, as
        # mmengine's Evaluator hands the adapted ones
        self.inner.process(data_batch, as_metric_inputs(data_samples))
        out = list(self.inner.results)
        self.inner.results.clear()
        return out

    def process(self, data_batch: Any, data_samples: Sequence) -> None:
        # One result per sample (mmengine truncates the collected results to
        # the dataset size): the adapted and, with the monitor, the base
        # summary of that sample side by side.
        adapted = self._summaries(data_batch, data_samples)
        if self.base != 'monitor':
            self.results.extend(dict(adapted=a) for a in adapted)
            return
        hub = MessageHub.get_current_instance()
        base_samples = hub.get_info(BASE_PREDICTIONS_KEY)
        if base_samples is None:
            raise RuntimeError(
                "DeltaTTTMetric(base='monitor') needs the source model's "
                'predictions of each batch: add TTTMonitorHook with '
                'eval_source=True (tools/test.py --tta-hook adds it), or give '
                'base=<metrics JSON of an earlier run>')
        hub.update_info(BASE_PREDICTIONS_KEY, None, resumed=False)
        base = self._summaries(data_batch, base_samples)
        if len(base) != len(adapted):
            raise RuntimeError(
                f'DeltaTTTMetric: {len(adapted)} adapted predictions but '
                f'{len(base)} base predictions in one batch')
        self.results.extend(
            dict(adapted=a, base=b) for a, b in zip(adapted, base))

    def _inner_metrics(self, results: list, base: bool) -> Dict[str, float]:
        if isinstance(self.inner, IoUMetric):
            return IoUMetricTotals(self.inner).compute_metrics(
                results, log=base,
                title='DeltaTTTMetric: per class results of the base '
                '(unadapted) model')
        return self.inner.compute_metrics(results)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        adapted = self._inner_metrics([r['adapted'] for r in results], False)
        if self._base_metrics is not None:
            base = dict(self._base_metrics)
        else:
            base = self._inner_metrics([r['base'] for r in results], True)
        out = {f'base/{k}': v for k, v in base.items()
               if isinstance(v, (int, float))}
        try:
            d = self.delta(base, adapted, self.keys)
        except ValueError as e:
            print_log(f'DeltaTTTMetric: Δ_TTT not computed: {e}',
                      logger='current', level=30)
            return out
        for k, v in d['per_task'].items():
            out[f'delta/{k}'] = v
        out['delta_ttt'] = d['delta_ttt']
        return out

    @staticmethod
    def delta(base: dict, adapted: dict,
              keys: Optional[Sequence[str]] = None) -> dict:
        """Δ_TTT of two flat metric dicts
        (:func:`trttt_mm.evaluation.delta_ttt`)."""
        return delta_ttt(base, adapted, keys)


def load_metrics_json(path: str) -> Dict[str, float]:
    """Read a flat metrics JSON (what tools/test.py writes).

    Raises:
        ValueError: naming the file when it is missing, not JSON, or not an
            object of metric names to numbers.
    """
    if not osp.isfile(path):
        raise ValueError(f'metrics JSON not found: {path}')
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f'{path}: not a readable metrics JSON ({e})') from e
    if not isinstance(data, dict):
        raise ValueError(f'{path}: expected a JSON object of metric -> '
                         f'number, got {type(data).__name__}')
    return {k: v for k, v in data.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}
