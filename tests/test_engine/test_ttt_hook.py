import copy
import hashlib
import json
import os.path as osp

import pytest
import torch
from mmengine.registry import init_default_scope

import trttt_mm  # noqa: F401
from trttt_mm.engine.hooks import TRTTTHook
from mmseg.registry import HOOKS, MODELS

import toy_data  # noqa: F401  (registers ToyMultiTaskDataset)
from model_helpers import small_model_cfg
from hook_helpers import HookTestCase


def _state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _equal(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def _assert_batch_rolled_back(runner, source, metrics):
    """One skip, no step of the batch counted, the weights the batch started
    with (here the source) back, every tensor finite."""
    assert metrics['ttt/nonfinite_skips'] == 1
    assert metrics['ttt/steps'] == 0
    assert _equal(source, _state(runner.model))
    for v in runner.model.state_dict().values():
        assert torch.isfinite(v.float()).all()


@HOOKS.register_module(force=True)
class NaNAtStepTwoHook(TRTTTHook):
    """TR-TTT whose loss turns NaN on the third step of the first batch."""

    def ttt_loss(self, forward, inputs, data_samples, generator):
        losses = super().ttt_loss(forward, inputs, data_samples, generator)
        self.calls = getattr(self, 'calls', 0) + 1
        if self.calls == 3:
            losses['loss_semseg'] = losses['loss_semseg'] * float('nan')
        return losses


@HOOKS.register_module(force=True)
class OverflowAtStepTwoHook(TRTTTHook):
    """TR-TTT whose second optimizer update leaves an infinite weight (as an
    overflowing update would), with finite loss and gradients."""

    def _build_optimizer(self, model):
        opt = super()._build_optimizer(model)
        orig = opt.step

        def step(*args, **kwargs):
            out = orig(*args, **kwargs)
            self.updates = getattr(self, 'updates', 0) + 1
            if self.updates == 2:
                with torch.no_grad():
                    self._params[0].view(-1)[0] = float('inf')
            return out

        opt.step = step
        return opt


class TestTTTHooks(HookTestCase):

    model = small_model_cfg(True, True)

    def _runner(self, load_from=None, monitor=None, **hook):
        cfg = copy.deepcopy(self.cfg)
        cfg.load_from = load_from
        hook.setdefault('type', 'TRTTTHook')
        cfg.custom_hooks = cfg.custom_hooks + [hook]
        if monitor is not None:
            cfg.custom_hooks.append(dict(type='TTTMonitorHook', **monitor))
        cfg.experiment_name = f'ttt_{id(hook)}_{len(hook)}_{hook["type"]}'
        return self.build_runner(cfg)

    def _hook(self, runner, cls=TRTTTHook):
        return [h for h in runner.hooks if isinstance(h, cls)][0]

    def test_hook_changes_weights_and_leaves_checkpoint_untouched(self):
        ckpt = osp.join(self.temp_dir.name, 'src.pth')
        init_default_scope('mmseg')
        source = MODELS.build(small_model_cfg(True, True))
        torch.save(dict(state_dict=source.state_dict(),
                        meta=dict(note='source')), ckpt)
        digest = hashlib.sha256(open(ckpt, 'rb').read()).hexdigest()
        runner = self._runner(load_from=ckpt, steps=3,
                              optimizer=dict(type='SGD', lr=0.1),
                              loss_scale=1.0, restore_after=False)
        metrics = runner.test()
        before = {k: v for k, v in source.state_dict().items()}
        after = _state(runner.model)
        assert not _equal(before, after)
        assert metrics['ttt/steps'] == 3 * 3  # 3 batches x 3 steps
        assert hashlib.sha256(open(ckpt, 'rb').read()).hexdigest() == digest
        # the checkpoint still loads weights-only (torch's default)
        torch.load(ckpt, weights_only=True)

    def test_restore_after_puts_source_weights_back(self):
        runner = self._runner(steps=2, optimizer=dict(type='SGD', lr=0.1),
                              loss_scale=1.0)
        before = _state(runner.model)
        runner.test()
        assert _equal(before, _state(runner.model))

    def test_episodic_reset_restores_source_exactly(self):
        runner = self._runner(steps=2, reset='episodic',
                              optimizer=dict(type='SGD', lr=0.1),
                              loss_scale=1.0)
        hook = self._hook(runner)
        source = _state(runner.model)
        seen = []
        orig = hook._adapt

        def spy(runner_, model, data_batch):
            seen.append(_state(model))
            return orig(runner_, model, data_batch)

        hook._adapt = spy
        runner.test()
        assert len(seen) == 3
        for state in seen:
            assert _equal(state, source)

    def test_single_batch_adapts_only_once(self):
        runner = self._runner(steps=2, reset='single_batch')
        metrics = runner.test()
        assert metrics['ttt/steps'] == 2

    def test_planted_nan_leaves_model_unchanged(self):
        runner = self._runner(type='NaNAtStepTwoHook', steps=4,
                              optimizer=dict(type='SGD', lr=0.05),
                              loss_scale=1.0, restore_after=False,
                              reset='single_batch')
        source = _state(runner.model)
        metrics = runner.test()
        hook = self._hook(runner, NaNAtStepTwoHook)
        assert hook.nonfinite_skips == 1
        # two good steps, then NaN: the batch is rolled back whole
        _assert_batch_rolled_back(runner, source, metrics)

    def test_overflowing_update_is_rolled_back_with_the_optimizer(self):
        """Finite loss and gradients, but the update leaves a non-finite
        weight: the batch is rolled back whole (weights and the optimizer's
        momentum), the model stays finite and the skip is counted."""
        runner = self._runner(type='OverflowAtStepTwoHook', steps=3,
                              optimizer=dict(type='SGD', lr=0.05,
                                             momentum=0.9),
                              loss_scale=1.0, restore_after=False,
                              reset='single_batch')
        source = _state(runner.model)
        metrics = runner.test()
        hook = self._hook(runner, OverflowAtStepTwoHook)
        assert hook.updates == 2
        _assert_batch_rolled_back(runner, source, metrics)
        # the momentum of the two rolled-back updates is gone too
        assert hook.optimizer.state_dict()['state'] == {}

    def test_nan_running_statistics_trigger_the_guard_and_the_metric(self):
        """A NaN running mean keeps the train-mode loss finite; the guard
        still fires (norm-layer buffers are checked) and the metric counts
        the NaN predictions instead of scoring them."""
        runner = self._runner(steps=2, loss_scale=1.0,
                              optimizer=dict(type='SGD', lr=0.01),
                              reset='single_batch')
        bn = [m for m in runner.model.modules()
              if isinstance(m, torch.nn.BatchNorm2d)][0]
        bn.running_mean[0] = float('nan')
        metrics = runner.test()
        assert metrics['ttt/nonfinite_skips'] == 1
        assert metrics['ttt/steps'] == 0
        assert metrics['normal/nonfinite'] > 0
        assert metrics['normal/mean_angle'] == 180.0  # never a perfect angle

    def test_eval_source_reports_base_and_delta_and_curve(self):
        runner = self._runner(steps=2, monitor=dict(eval_source=True))
        metrics = runner.test()
        assert 'base/semseg/mIoU' in metrics and 'semseg/mIoU' in metrics
        assert 'delta_ttt' in metrics and 'delta/depth/rmse' in metrics
        curve = json.load(open(osp.join(runner.log_dir, 'ttt_curve.json')))
        assert len(curve['loss']) == 3 and len(curve['loss'][0]) == 2
        assert len(curve['metrics']) == 3 and len(curve['delta_ttt']) == 3
        assert curve['final']['delta_ttt'] == pytest.approx(
            metrics['delta_ttt'])

    def test_param_selection_moves_only_the_chosen_parameters(self):
        def norm_names(model):
            from trttt_mm.engine.hooks.ttt_hook import NORM_TYPES
            return {f'{mn}.{pn}' for mn, m in model.named_modules()
                    if isinstance(m, NORM_TYPES)
                    for pn, _ in m.named_parameters(recurse=False)}

        for params in ('norm', r'^aux_heads\.relation\.'):
            runner = self._runner(steps=2, params=params, norm_mode='eval',
                                  optimizer=dict(type='SGD', lr=0.5),
                                  loss_scale=1.0, restore_after=False,
                                  grad_clip=10.0)
            before = dict(runner.model.named_parameters())
            before = {k: v.detach().clone() for k, v in before.items()}
            runner.test()
            changed = {k for k, v in runner.model.named_parameters()
                       if not torch.equal(v, before[k])}
            assert changed, params
            if params == 'norm':
                assert changed <= norm_names(runner.model)
            else:
                assert all(k.startswith('aux_heads.relation.')
                           for k in changed)

    def test_model_without_trl_is_refused(self):
        cfg = copy.deepcopy(self.cfg)
        cfg.model = small_model_cfg(False, False)
        cfg.custom_hooks = cfg.custom_hooks + [dict(type='TRTTTHook')]
        cfg.experiment_name = 'no_trl'
        runner = self.build_runner(cfg)
        with pytest.raises(ValueError, match='TaskRelationHead'):
            runner.test()


def test_bad_hook_arguments():
    with pytest.raises(ValueError, match='reset'):
        TRTTTHook(reset='sometimes')
    with pytest.raises(ValueError, match='loss'):
        TRTTTHook(loss='l7')
    with pytest.raises(ValueError, match='regular expression'):
        TRTTTHook(params='([')
    with pytest.raises(ValueError, match='norm_mode'):
        TRTTTHook(norm_mode='frozen')
