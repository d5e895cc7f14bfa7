"""Monitoring of a test-time-training run, apart from the adaptation.

:class:`TTTMonitorHook` predicts every batch with a frozen copy of the source
model (``eval_source``), makes sure a :class:`DeltaTTTMetric` turns those
predictions into ``base/<key>``, ``delta/<key>`` and ``delta_ttt``, and keeps
the running metrics of both models over the stream for the curve
(``ttt_curve.json``, Fig. 3). Running metrics cost O(1) per batch: each batch
is reduced to additive totals (``MultiTaskMetric.reduce``) and merged into
running totals (``merge``), from which the metrics are read
(``compute_from_totals``).

The hook also hands the source model's predictions of each batch to the
adapted outputs (``base_pred_*`` fields, drawn as 'before TTT' by
:class:`MultiTaskVisualizationHook`) and sends the running numbers of every
batch and the test-time loss of every step to the runner's visualizer
(``add_scalars``: ``LocalVisBackend``'s ``vis_data/scalars.json``,
TensorBoard, W&B).
"""
import copy
import json
import numbers
import math
import os.path as osp
from typing import Optional, Sequence

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmseg.registry import HOOKS

from ...evaluation.metrics.delta_ttt_metric import (BASE_PREDICTIONS_KEY,
                                                    DeltaTTTMetric)
from ...evaluation.metrics.iou_metric_totals import (as_metric_inputs,
                                                     incremental_api,
                                                     private_copy)
from ...tasks import PRED_FIELDS
from ...visualization import BASE_PRED_FIELDS
from .ttt_hook import BATCH_LOSSES_KEY, BaseTTTHook


def attach_base_predictions(outputs: Sequence, base: Sequence) -> None:
    """Set each base sample's prediction fields on the matching adapted
    output as ``base_pred_*`` (references, no copy).

    Raises:
        RuntimeError: when the two batches differ in length.
    """
    if len(outputs) != len(base):
        raise RuntimeError(f'TTTMonitorHook: {len(outputs)} adapted outputs '
                           f'but {len(base)} base predictions in one batch')
    for out, b in zip(outputs, base):
        out.set_data({BASE_PRED_FIELDS[t]: getattr(b, f)
                      for t, f in PRED_FIELDS.items() if f in b})


class _Running:
    """Running metrics of one model over the stream (O(1) per batch when the
    metric offers ``reduce``/``merge``/``compute_from_totals``)."""

    def __init__(self, metric):
        # quiet, and writing no prediction files
        self.metric = private_copy(metric, 'TTTMonitorHook')
        # the metric's own totals (MultiTaskMetric) or mmseg IoUMetric's
        self.api = incremental_api(self.metric)
        self.incremental = self.api is not None
        self.totals = {}
        self.all_results = []

    def add(self, data_batch, data_samples) -> None:
        m = self.metric
        m.results.clear()
        # as mmengine's Evaluator hands them to a metric (dicts)
        m.process(data_batch, as_metric_inputs(data_samples))
        if self.incremental:
            self.totals = self.api.merge(self.totals,
                                         self.api.reduce(list(m.results)))
        else:  # a metric without totals: recompute over everything so far
            self.all_results.extend(m.results)
        m.results.clear()

    def compute(self) -> dict:
        if self.incremental:
            res = self.api.compute_from_totals(self.totals) \
                if self.totals else {}
        else:
            res = self.metric.compute_metrics(list(self.all_results)) \
                if self.all_results else {}
        return {k: float(v) for k, v in res.items()
                if isinstance(v, numbers.Real)}


@HOOKS.register_module()
class TTTMonitorHook(Hook):
    """Evaluate the source model beside the adapted one and record the curve.

    Args:
        eval_source: Predict every batch with a frozen copy of the model as
            loaded (before any adaptation) and report ``base/<key>``,
            ``delta/<key>`` and ``delta_ttt`` (through a
            :class:`DeltaTTTMetric` added to the test evaluator when the
            config does not list one).
        base_metrics: Instead of ``eval_source``, the metrics JSON of an
            earlier run to compare with.
        curve: Write ``ttt_curve.json`` (losses per step, running metrics of
            both models and running Δ_TTT per batch) to the run's log dir and
            work dir.
        keys: Metric keys of Δ_TTT (default: each task's primary key).
        live_scalars: Send to the runner's visualizer, with ``add_scalars``,
            the test-time loss of every step (``ttt/loss``, step = steps so
            far) and, with ``curve``, after every batch (step = batches so
            far) the running metrics of the adapted model
            (``ttt/<key>``), of the base (``ttt/base/<key>``) and the
            running Δ_TTT (``ttt/delta_ttt``, when it is defined).
    """

    # Before the adapting hooks: the source copy is taken before a method's
    # setup changes the model.
    priority = 'ABOVE_NORMAL'

    def __init__(self,
                 eval_source: bool = True,
                 base_metrics: Optional[str] = None,
                 curve: bool = True,
                 keys: Optional[Sequence[str]] = None,
                 live_scalars: bool = True):
        if eval_source and base_metrics is not None:
            raise ValueError('TTTMonitorHook: give eval_source=True or '
                             'base_metrics=<json>, not both')
        self.eval_source = bool(eval_source)
        self.base_metrics = base_metrics
        self.curve = bool(curve)
        self.keys = None if keys is None else list(keys)
        self.live_scalars = bool(live_scalars)

    @staticmethod
    def _unwrap(model):
        return model.module if is_model_wrapper(model) else model

    def before_test(self, runner) -> None:
        model = self._unwrap(runner.model)
        evaluator = runner.test_loop.evaluator
        metrics = [m for m in evaluator.metrics
                   if not isinstance(m, DeltaTTTMetric)]
        if not metrics:
            raise ValueError('TTTMonitorHook: the test evaluator has no '
                             'metric to monitor')
        self._source_model = None
        if self.eval_source:
            self._source_model = copy.deepcopy(model).eval()
            for p in self._source_model.parameters():
                p.requires_grad_(False)
        if (self.eval_source or self.base_metrics) and not any(
                isinstance(m, DeltaTTTMetric) for m in evaluator.metrics):
            delta = DeltaTTTMetric(
                metric=metrics[0],
                base='monitor' if self.eval_source else self.base_metrics,
                keys=self.keys)
            delta.dataset_meta = metrics[0].dataset_meta
            evaluator.metrics.append(delta)
        method = [type(h).__name__ for h in runner.hooks
                  if isinstance(h, BaseTTTHook)]
        self._curve = dict(method=method[0] if method else None,
                           steps_per_batch=[], loss=[], metrics=[],
                           base_metrics=[], delta_ttt=[])
        self._adapted = _Running(metrics[0]) if self.curve else None
        self._base = _Running(metrics[0]) \
            if self.curve and self.eval_source else None
        self._fixed_base = None
        self._batch_base = None
        self._batches = self._steps = 0
        if self.curve and self.base_metrics:
            from ...evaluation.metrics import load_metrics_json
            self._fixed_base = load_metrics_json(self.base_metrics)

    def before_test_iter(self, runner, batch_idx: int,
                         data_batch=None) -> None:
        runner.message_hub.update_info(BATCH_LOSSES_KEY, [], resumed=False)
        if self._source_model is None:
            return
        with torch.no_grad():
            data = self._source_model.data_preprocessor(data_batch, False)
            preds = self._source_model(**data, mode='predict')
        runner.message_hub.update_info(BASE_PREDICTIONS_KEY, preds,
                                       resumed=False)
        self._batch_base = preds
        if self._base is not None:
            self._base.add(data_batch, preds)

    def after_test_iter(self, runner, batch_idx: int, data_batch=None,
                        outputs=None) -> None:
        runner.message_hub.update_info(BASE_PREDICTIONS_KEY, None,
                                       resumed=False)
        if self._batch_base is not None and outputs is not None:
            attach_base_predictions(outputs, self._batch_base)
        self._batch_base = None
        losses = runner.message_hub.get_info(BATCH_LOSSES_KEY) or []
        self._batches += 1
        if self.live_scalars:
            for loss in losses:
                self._steps += 1
                runner.visualizer.add_scalars({'ttt/loss': float(loss)},
                                              step=self._steps)
        if not self.curve:
            return
        self._curve['steps_per_batch'].append(len(losses))
        self._curve['loss'].append(list(losses))
        self._adapted.add(data_batch, outputs)
        adapted = self._adapted.compute()
        self._curve['metrics'].append(adapted)
        base = self._base.compute() if self._base is not None \
            else self._fixed_base
        if base is not None:
            self._curve['base_metrics'].append(base)
            try:
                self._curve['delta_ttt'].append(
                    DeltaTTTMetric.delta(base, adapted,
                                         self.keys)['delta_ttt'])
            except ValueError:
                self._curve['delta_ttt'].append(None)
        if self.live_scalars:
            self._send_running(runner, adapted, base)

    def _send_running(self, runner, adapted: dict,
                      base: Optional[dict]) -> None:
        """The batch's running numbers to the visualizer's backends."""
        scalars = {f'ttt/{k}': v for k, v in adapted.items()}
        if base is not None:
            scalars.update({f'ttt/base/{k}': float(v)
                            for k, v in base.items()
                            if isinstance(v, (int, float))})
            delta = self._curve['delta_ttt'][-1]
            if delta is not None and math.isfinite(delta):
                scalars['ttt/delta_ttt'] = float(delta)
        if scalars:
            runner.visualizer.add_scalars(scalars, step=self._batches)

    def after_test_epoch(self, runner, metrics: Optional[dict] = None
                         ) -> None:
        if metrics is None or not self.curve or get_rank() != 0:
            return
        self._curve['final'] = {
            # numpy scalars too (mmseg's IoUMetric returns np.float32)
            k: (float(v) if isinstance(v, numbers.Real) else v)
            for k, v in metrics.items()
        }
        path = osp.join(runner.log_dir, 'ttt_curve.json')
        with open(path, 'w') as f:
            json.dump(self._curve, f)
        with open(osp.join(runner.work_dir, 'ttt_curve.json'), 'w') as f:
            json.dump(self._curve, f)
        runner.logger.info(f'test-time curve written to {path}')

    def after_test(self, runner) -> None:
        self._source_model = None
