"""TTTMonitorHook and DeltaTTTMetric: base model, running metrics, Δ_TTT."""
import copy
import json
import os.path as osp

import pytest
import torch

import trttt_mm  # noqa: F401
from trttt_mm.engine.hooks import TRTTTHook, TTTMonitorHook
from trttt_mm.engine.hooks.monitor_hook import _Running
from trttt_mm.evaluation import DeltaTTTMetric, MultiTaskMetric

import toy_data  # noqa: F401  (registers ToyMultiTaskDataset)
from model_helpers import small_model_cfg
from hook_helpers import HookTestCase


class TestMonitor(HookTestCase):

    model = small_model_cfg(True, True)

    def _runner(self, name, hooks, evaluator=None):
        cfg = copy.deepcopy(self.cfg)
        cfg.custom_hooks = cfg.custom_hooks + hooks
        if evaluator is not None:
            cfg.test_evaluator = evaluator
        cfg.experiment_name = name
        return self.build_runner(cfg)

    def test_running_metrics_end_at_the_final_metrics(self):
        runner = self._runner('mon_final', [
            dict(type='TRTTTHook', steps=2, loss_scale=1.0,
                 optimizer=dict(type='SGD', lr=0.05)),
            dict(type='TTTMonitorHook', eval_source=True)])
        metrics = runner.test()
        curve = json.load(open(osp.join(runner.log_dir, 'ttt_curve.json')))
        assert curve['method'] == 'TRTTTHook'
        assert curve['steps_per_batch'] == [2, 2, 2]
        last, last_base = curve['metrics'][-1], curve['base_metrics'][-1]
        for key in ('semseg/mIoU', 'depth/rmse', 'normal/mean_angle',
                    'edge/rmse'):
            assert last[key] == pytest.approx(metrics[key], rel=1e-9)
            assert last_base[key] == pytest.approx(metrics[f'base/{key}'],
                                                   rel=1e-9)
        assert curve['delta_ttt'][-1] == pytest.approx(metrics['delta_ttt'])
        assert 'ttt/steps' in metrics and metrics['ttt/steps'] == 6

    def test_base_equals_a_plain_test_run(self):
        """The monitor's base metrics are those of the model as loaded."""
        plain = self._runner('mon_plain', [])
        plain_metrics = plain.test()
        runner = self._runner('mon_vs_plain', [
            dict(type='TRTTTHook', steps=1, loss_scale=1.0,
                 optimizer=dict(type='SGD', lr=0.1)),
            dict(type='TTTMonitorHook')])
        runner.model.load_state_dict(plain.model.state_dict())
        metrics = runner.test()
        for key in ('semseg/mIoU', 'depth/rmse', 'normal/mean_angle'):
            assert metrics[f'base/{key}'] == pytest.approx(plain_metrics[key])

    def test_delta_metric_listed_in_the_evaluator_with_a_json_base(self):
        base = {'semseg/mIoU': 50.0, 'depth/rmse': 2.0,
                'normal/mean_angle': 40.0, 'edge/rmse': 0.5}
        path = osp.join(self.temp_dir.name, 'base.json')
        json.dump(base, open(path, 'w'))
        runner = self._runner(
            'mon_json', [dict(type='TTTMonitorHook', eval_source=False,
                              base_metrics=path)],
            evaluator=[dict(type='MultiTaskMetric'),
                       dict(type='DeltaTTTMetric', base=path)])
        metrics = runner.test()
        expected = DeltaTTTMetric.delta(base, metrics)
        assert metrics['delta_ttt'] == pytest.approx(expected['delta_ttt'])
        assert metrics['base/depth/rmse'] == 2.0
        # with a JSON base the evaluator needs no monitor at all
        first = runner
        runner = self._runner(
            'mon_json_only', [],
            evaluator=[dict(type='MultiTaskMetric'),
                       dict(type='DeltaTTTMetric', base=path)])
        runner.model.load_state_dict(first.model.state_dict())
        assert runner.test()['delta_ttt'] == pytest.approx(
            expected['delta_ttt'])

    def test_delta_metric_without_monitor_is_a_clear_error(self):
        runner = self._runner(
            'mon_missing', [],
            evaluator=[dict(type='MultiTaskMetric'),
                       dict(type='DeltaTTTMetric')])
        with pytest.raises(RuntimeError, match='TTTMonitorHook'):
            runner.test()


def test_running_totals_are_incremental_and_exact():
    """Merging per-batch totals gives the metrics of all results, and the
    work per batch does not depend on how many batches came before."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    g = torch.Generator().manual_seed(0)

    def batch():
        out = []
        for _ in range(2):
            ds = SegDataSample()
            seg = torch.randint(0, 3, (1, 8, 8), generator=g)
            ds.set_data(dict(
                gt_sem_seg=PixelData(data=seg),
                pred_sem_seg=PixelData(
                    data=torch.randint(0, 3, (1, 8, 8), generator=g)),
                gt_depth_map=PixelData(data=torch.rand(1, 8, 8,
                                                       generator=g) + .5),
                pred_depth_map=PixelData(data=torch.rand(1, 8, 8,
                                                         generator=g) + .5)))
            out.append(ds)
        return out

    metric = MultiTaskMetric(num_classes=3, log_per_class=False)
    running = _Running(metric)
    assert running.incremental
    full = MultiTaskMetric(num_classes=3, log_per_class=False)
    for _ in range(5):
        b = batch()
        running.add(None, b)
        full.process(None, b)
        assert running.metric.results == []  # nothing kept per sample
    got = running.compute()
    want = full.compute_metrics(full.results)
    for k, v in want.items():
        assert got[k] == pytest.approx(v, rel=1e-12), k


def test_monitor_arguments():
    with pytest.raises(ValueError, match='not both'):
        TTTMonitorHook(eval_source=True, base_metrics='x.json')


def test_hooks_refuse_monitor_arguments_and_bad_values():
    with pytest.raises(TypeError, match='TTTMonitorHook'):
        TRTTTHook(eval_source=True)
    for kw, name in ((dict(steps=2.7), 'steps'), (dict(steps='ten'), 'steps'),
                     (dict(steps=-1), 'steps'),
                     (dict(loss_scale=-1), 'loss_scale'),
                     (dict(loss_scale=float('nan')), 'loss_scale'),
                     (dict(grad_clip=-1), 'grad_clip'),
                     (dict(grad_clip=0), 'grad_clip'),
                     (dict(params=''), 'params'),
                     (dict(optimizer=dict(type='SGD', lr='fast')),
                      'optimizer.lr'),
                     (dict(optimizer=dict(type='SGD', lr=-1)), 'optimizer.lr'),
                     (dict(log_interval=0), 'log_interval'),
                     (dict(seed=1.5), 'seed'), (dict(head=''), 'head'),
                     (dict(loss='l7'), 'loss'), (dict(reset='sometimes'),
                                                 'reset')):
        with pytest.raises(ValueError, match=name.replace('.', r'\.')):
            TRTTTHook(**kw)
    assert TRTTTHook(steps=3.0).steps == 3
