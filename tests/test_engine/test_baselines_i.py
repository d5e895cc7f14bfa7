"""Baselines I: NormStatsHook, TENTHook, TIPIHook, ActMADHook (+ the
ActMADStatsHead that holds ActMAD's source statistics)."""
import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.registry import init_default_scope

import trttt_mm  # noqa: F401
from mmseg.registry import HOOKS, MODELS
from trttt_mm.engine.hooks import (ActMADHook, NormStatsHook, TENTHook,
                                   TIPIHook, collect_source_stats)
from trttt_mm.engine.hooks.ttt_hook import NORM_TYPES
from trttt_mm.engine.hooks.tipi_hook import ADV_BUFFERS
from trttt_mm.models.aux_heads import ActMADStatsHead
from trttt_mm.utils.checkpoint import load_weights

import toy_data  # noqa: F401  (registers ToyMultiTaskDataset)
from model_helpers import make_batch, small_model_cfg
from hook_helpers import HookTestCase

BN = nn.modules.batchnorm._BatchNorm


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _params(model):
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def _changed(model, before):
    return {k for k, v in model.named_parameters()
            if not torch.equal(v, before[k])}


def _bn_stats(model):
    return {n: (m.running_mean.clone(), m.running_var.clone())
            for n, m in model.named_modules()
            if isinstance(m, BN) and m.running_mean is not None}


def _norm_affine_names(model, types=NORM_TYPES):
    return {f'{mn}.{pn}' for mn, m in model.named_modules()
            if isinstance(m, types) for pn, _ in m.named_parameters(
                recurse=False)}


def _actmad_cfg(**kw):
    cfg = small_model_cfg(False, False, **kw)
    cfg['aux_heads'] = dict(actmad=dict(type='ActMADStatsHead'))
    return cfg


def _stats_model(seed=0):
    torch.manual_seed(seed)
    model = MODELS.build(_actmad_cfg())
    collect_source_stats(
        model, [make_batch(n=3, h=32, w=32, seed=s) for s in range(2)])
    return model


class _Mechanics:
    """A hook's own mechanics without a Runner (as the benchmark tool)."""

    def __init__(self, hook, model, runner=None):
        self.hook, self.model = hook, model
        hook.model = model
        hook.head_name = hook._resolve_head(model)
        hook.setup(runner, model)
        hook._params = hook._select_params(model)
        hook.optimizer = hook._build_optimizer(model)
        hook._device = torch.device('cpu')
        self.gen = torch.Generator()

    def forward(self, inputs, branches, mask=None, generator=None):
        return self.model(inputs, None, mode='branches', branches=branches,
                          mask=mask, generator=generator)

    def loss(self, data, seed=0):
        self.gen.manual_seed(seed)
        losses = self.hook.ttt_loss(self.forward, data['inputs'],
                                    data['data_samples'], self.gen)
        return sum(losses.values()) * self.hook.loss_scale, losses

    def step(self, data, seed=0):
        self.hook._set_mode(self.model, self.hook.norm_mode)
        with torch.enable_grad():
            loss, _ = self.loss(data, seed)
            self.hook.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.hook.optimizer.step()
        return float(loss.detach())


# --------------------------------------------------------------- runner tests
class TestBaselinesI(HookTestCase):

    model = small_model_cfg(False, False)

    def _runner(self, model=None, monitor=None, state=None, **hook):
        cfg = copy.deepcopy(self.cfg)
        if model is not None:
            cfg.model = model
        cfg.custom_hooks = cfg.custom_hooks + [hook]
        if monitor is not None:
            cfg.custom_hooks.append(dict(type='TTTMonitorHook', **monitor))
        cfg.experiment_name = f'bi_{id(hook)}_{hook["type"]}'
        runner = self.build_runner(cfg)
        if state is not None:
            runner.model.load_state_dict(state)
        return runner

    @staticmethod
    def _hook(runner, cls):
        return [h for h in runner.hooks if isinstance(h, cls)][0]

    def _starts(self, runner, cls):
        """States the model starts each batch's adaptation with."""
        hook = self._hook(runner, cls)
        seen, orig = [], hook._adapt

        def spy(runner_, model, data_batch):
            seen.append(_state(model))
            return orig(runner_, model, data_batch)

        hook._adapt = spy
        return seen

    # ------------------------------------------------------------ NormStats
    def test_norm_stats_ema_follows_the_stream(self):
        """Online 'ema': the running statistics after the stream equal a
        by-hand replay (train-mode passes with the hook's momentum); no
        parameter moves; episodic starts every batch from the source."""
        for reset in ('online', 'episodic'):
            runner = self._runner(type='NormStatsHook', mode='ema',
                                  momentum=0.3, passes=2, reset=reset,
                                  restore_after=False)
            source = copy.deepcopy(runner.model)
            params = _params(runner.model)
            metrics = runner.test()
            assert not _changed(runner.model, params)
            assert metrics['ttt/steps'] == 0
            replay = copy.deepcopy(source)
            for m in replay.modules():
                if isinstance(m, BN):
                    m.momentum = 0.3
            batches = list(runner.test_dataloader)
            with torch.no_grad():
                for batch in (batches if reset == 'online' else batches[-1:]):
                    replay.eval()
                    for m in replay.modules():
                        if isinstance(m, BN):
                            m.train()
                    data = replay.data_preprocessor(batch, False)
                    for _ in range(2):
                        replay.forward_branches(data['inputs'], ('main', ))
            got, want = _bn_stats(runner.model), _bn_stats(replay)
            for k in want:
                torch.testing.assert_close(got[k], want[k], rtol=1e-5,
                                           atol=1e-6)
            # the momentum is the layers' own again
            assert all(m.momentum == 0.1 for m in runner.model.modules()
                       if isinstance(m, BN))

    def test_norm_stats_batch_and_mix(self):
        source = None
        results = {}
        for mode, alpha in (('batch', 0.1), ('mix', 0.0), ('mix', 1.0)):
            runner = self._runner(type='NormStatsHook', mode=mode,
                                  alpha=alpha, restore_after=False,
                                  monitor=dict(eval_source=True,
                                               curve=False))
            if source is None:
                source = _state(runner.model)
            else:
                runner.model.load_state_dict(source)
            metrics = runner.test()
            # no parameter and no running statistic changed
            assert _equal(_state(runner.model), source)
            results[(mode, alpha)] = metrics
        # alpha = 0: the source statistics, the source's predictions
        m0 = results[('mix', 0.0)]
        for key in ('semseg/mIoU', 'depth/rmse', 'normal/mean_angle'):
            assert m0[key] == pytest.approx(m0[f'base/{key}'], rel=1e-6)
        # target statistics change the predictions
        for key in (('batch', 0.1), ('mix', 1.0)):
            m = results[key]
            assert m['depth/rmse'] != pytest.approx(m['base/depth/rmse'],
                                                    rel=1e-6), key

    def test_norm_stats_is_trttt_with_lr_zero(self):
        """TR-TTT with lr 0 and S steps moves only the batch-norm
        statistics: 'ema' with S passes and momentum 0.1 gives the same
        predictions (the control of the method)."""
        model = small_model_cfg(True, True)
        runner = self._runner(model=model, type='TRTTTHook', steps=3,
                              optimizer=dict(type='SGD', lr=0.0),
                              monitor=dict(eval_source=True, curve=False))
        state = _state(runner.model)
        trttt = runner.test()
        runner = self._runner(model=model, type='NormStatsHook', mode='ema',
                              passes=3, momentum=0.1, state=state,
                              monitor=dict(eval_source=True, curve=False))
        control = runner.test()
        for key in ('semseg/mIoU', 'depth/rmse', 'normal/mean_angle',
                    'edge/rmse', 'delta_ttt'):
            assert control[key] == pytest.approx(trttt[key], rel=1e-5,
                                                 abs=1e-6), key

    def test_norm_stats_errors(self):
        with pytest.raises(ValueError, match='mode'):
            NormStatsHook(mode='alpha')
        with pytest.raises(ValueError, match='alpha'):
            NormStatsHook(mode='mix', alpha=1.5)
        with pytest.raises(ValueError, match='momentum'):
            NormStatsHook(momentum=0)
        with pytest.raises(TypeError, match='optimizer'):
            NormStatsHook(optimizer=dict(type='SGD', lr=1.0))
        gn = dict(type='GN', num_groups=4, requires_grad=True)
        cfg = small_model_cfg(False, False)
        cfg['backbone']['norm_cfg'] = gn
        cfg['decode_head']['norm_cfg'] = gn
        runner = self._runner(model=cfg, type='NormStatsHook')
        with pytest.raises(ValueError, match='running statistics'):
            runner.test()

    # ----------------------------------------------------------------- TENT
    def test_tent_moves_only_bn_affine_and_undoes_its_configuration(self):
        runner = self._runner(type='TENTHook', steps=2, restore_after=False,
                              optimizer=dict(type='Adam', lr=1e-2))
        source = _state(runner.model)
        flags = {k: p.requires_grad
                 for k, p in runner.model.named_parameters()}
        hook = self._hook(runner, TENTHook)
        seen = []
        orig = hook.ttt_loss

        def spy(*args, **kwargs):
            seen.append([(m.running_mean, m.track_running_stats)
                         for m in runner.model.modules()
                         if isinstance(m, BN)])
            return orig(*args, **kwargs)

        hook.ttt_loss = spy
        params = _params(runner.model)
        runner.test()
        changed = _changed(runner.model, params)
        assert changed and changed <= _norm_affine_names(runner.model, BN)
        # while adapting: batch statistics only
        assert len(seen) == 6
        assert all(mean is None and not track for step in seen
                   for mean, track in step)
        # afterwards: the source running statistics and flags are back
        after = _state(runner.model)
        for k, v in source.items():
            if 'running' in k or 'num_batches' in k:
                assert torch.equal(after[k], v), k
        assert all(m.track_running_stats for m in runner.model.modules()
                   if isinstance(m, BN))
        assert flags == {k: p.requires_grad
                         for k, p in runner.model.named_parameters()}

    def test_tent_reset_semantics(self):
        runner = self._runner(type='TENTHook', reset='episodic',
                              optimizer=dict(type='Adam', lr=1e-2))
        seen = self._starts(runner, TENTHook)
        runner.test()
        assert len(seen) == 3
        assert all(_equal(s, seen[0]) for s in seen)
        runner = self._runner(type='TENTHook', reset='online',
                              optimizer=dict(type='Adam', lr=1e-2))
        seen = self._starts(runner, TENTHook)
        runner.test()
        assert not _equal(seen[0], seen[1])

    def test_tent_needs_a_classification_task(self):
        runner = self._runner(model=small_model_cfg(
            False, False, tasks=('depth', 'normal')), type='TENTHook')
        with pytest.raises(ValueError, match='no semseg'):
            runner.test()
        with pytest.raises(ValueError, match='edge_weight'):
            TENTHook(edge_weight=-1)

    # ----------------------------------------------------------------- TIPI
    def test_tipi_moves_only_norm_affine_and_both_statistics(self):
        runner = self._runner(type='TIPIHook', restore_after=False,
                              lr_per_sample=None,
                              optimizer=dict(type='SGD', lr=0.05))
        params, stats = _params(runner.model), _bn_stats(runner.model)
        hook = self._hook(runner, TIPIHook)
        adv_moved = []
        orig = hook._adapt

        def spy(runner_, model, data_batch):
            out = orig(runner_, model, data_batch)
            adv_moved.append(all(
                not torch.equal(m.tipi_adv_running_mean, m.running_mean)
                for m in hook._bns))
            return out

        hook._adapt = spy
        metrics = runner.test()
        assert metrics['ttt/steps'] == 3
        changed = _changed(runner.model, params)
        assert changed and changed <= _norm_affine_names(runner.model)
        after = _bn_stats(runner.model)
        assert all(not torch.equal(after[k][0], stats[k][0]) for k in stats)
        assert all(adv_moved)  # the two sets of statistics are apart
        for m in runner.model.modules():  # and the extra set is gone
            assert not any(b in m._buffers for b in ADV_BUFFERS)

    def test_tipi_reset_semantics_and_errors(self):
        runner = self._runner(type='TIPIHook', reset='episodic',
                              lr_per_sample=None,
                              optimizer=dict(type='SGD', lr=0.05))
        seen = self._starts(runner, TIPIHook)
        runner.test()
        assert len(seen) == 3 and all(_equal(s, seen[0]) for s in seen)
        assert any(k.endswith(ADV_BUFFERS[0]) for k in seen[0])
        runner = self._runner(model=small_model_cfg(
            False, False, tasks=('depth', 'normal')), type='TIPIHook')
        with pytest.raises(ValueError, match='no semseg'):
            runner.test()
        runner = self._runner(type='TIPIHook', task_weights=dict(edge=2.0),
                              model=small_model_cfg(
                                  False, False, tasks=('semseg', 'depth')))
        with pytest.raises(ValueError, match='edge'):
            runner.test()
        with pytest.raises(ValueError, match='epsilon'):
            TIPIHook(epsilon=0)
        with pytest.raises(ValueError, match='task_weights'):
            TIPIHook(task_weights=dict(sky=1.0))

    # --------------------------------------------------------------- ActMAD
    def test_actmad_moves_weights_not_statistics(self):
        model = _stats_model()
        runner = self._runner(model=_actmad_cfg(), state=model.state_dict(),
                              type='ActMADHook', restore_after=False,
                              optimizer=dict(type='SGD', lr=1e-4,
                                             momentum=0.9, nesterov=True))
        params, stats = _params(runner.model), _bn_stats(runner.model)
        metrics = runner.test()
        assert metrics['ttt/steps'] == 3
        changed = _changed(runner.model, params)
        assert any('conv' in k and 'weight' in k for k in changed)
        after = _bn_stats(runner.model)
        assert all(torch.equal(after[k][0], stats[k][0]) and torch.equal(
            after[k][1], stats[k][1]) for k in stats)
        hook = self._hook(runner, ActMADHook)
        assert not hook._handles  # forward hooks removed

    def test_actmad_reset_semantics(self):
        model = _stats_model()
        runner = self._runner(model=_actmad_cfg(), state=model.state_dict(),
                              type='ActMADHook', reset='episodic')
        seen = self._starts(runner, ActMADHook)
        runner.test()
        assert len(seen) == 3 and all(_equal(s, seen[0]) for s in seen)

    def test_actmad_needs_the_head_and_its_statistics(self):
        runner = self._runner(type='ActMADHook')
        with pytest.raises(ValueError, match='ActMADStatsHead'):
            runner.test()
        runner = self._runner(model=_actmad_cfg(), type='ActMADHook')
        with pytest.raises(RuntimeError, match='tools/analysis/source_stats'):
            runner.test()
        with pytest.raises(ValueError, match='size_mismatch'):
            ActMADHook(size_mismatch='crop')


# ------------------------------------------------------- unit-level checks
def test_tent_can_keep_its_source_statistics():
    """TENT forgets the running statistics (each batch normalised with its
    own); running_stats='update' with norm_mode='eval' (the benchmark's
    gradient-only TENT) keeps them: the layers normalise with the source
    statistics, which one step does not move, and the affine parameters
    still get the entropy's gradient."""
    model = MODELS.build(small_model_cfg(False, False))
    bns = [m for m in model.modules()
           if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    hook = TENTHook()
    _Mechanics(hook, model)
    assert all(not m.track_running_stats and m.running_mean is None
               for m in bns)
    hook.teardown(None, model)
    assert all(m.track_running_stats and m.running_mean is not None
               for m in bns)
    stats = _bn_stats(model)
    params = _params(model)
    hook = TENTHook(running_stats='update', norm_mode='eval')
    mech = _Mechanics(hook, model)
    assert hook.norm_policy.running_stats == 'update'
    assert all(m.track_running_stats for m in bns)
    data = model.data_preprocessor(make_batch(n=2, h=32, w=32), False)
    mech.step(data)
    assert not any(m.training for m in bns)
    after = _bn_stats(model)
    assert all(torch.equal(after[k][0], stats[k][0]) and
               torch.equal(after[k][1], stats[k][1]) for k in stats)
    changed = _changed(model, params)
    assert changed and all(k.endswith(('weight', 'bias')) for k in changed)
    hook.teardown(None, model)
    with pytest.raises(ValueError, match="running statistics must be one "
                       r"of \('update', 'forget'\), got 'keep'"):
        TENTHook(running_stats='keep')


def test_tent_reproduces_the_official_update():
    """A 1x1-conv + BN + 1x1-conv model: the loss after TENT's
    configuration, the gradients of γ and β, and the loss after one Adam
    step, against the official formulas written out by hand."""

    class Tiny(nn.Module):
        tasks = ('semseg', )

        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 4, 1)
            self.bn = nn.BatchNorm2d(4)
            self.conv2 = nn.Conv2d(4, 5, 1)

        def forward(self, x, data_samples=None, mode='branches',
                    branches=('main', ), **kwargs):
            return dict(main=dict(semseg=self.conv2(
                torch.relu(self.bn(self.conv1(x))))))

    torch.manual_seed(0)
    model = Tiny().double()
    with torch.no_grad():
        model.bn.weight.uniform_(0.5, 1.5)
        model.bn.bias.uniform_(-0.5, 0.5)
        model.bn.running_mean.uniform_(-1, 1)  # must not be used
        model.bn.running_var.uniform_(1, 2)
    x = torch.randn(3, 3, 5, 6, dtype=torch.float64)
    w1, b1 = model.conv1.weight.detach().clone(), model.conv1.bias.detach()
    w2, b2 = model.conv2.weight.detach().clone(), model.conv2.bias.detach()
    gamma0 = model.bn.weight.detach().clone()
    beta0 = model.bn.bias.detach().clone()

    def reference(gamma, beta):
        h = F.conv2d(x, w1, b1)
        mu = h.mean(dim=(0, 2, 3), keepdim=True)
        var = ((h - mu) ** 2).mean(dim=(0, 2, 3), keepdim=True)
        h = (h - mu) / torch.sqrt(var + 1e-5) * gamma.view(1, -1, 1, 1) \
            + beta.view(1, -1, 1, 1)
        z = F.conv2d(torch.relu(h), w2, b2)
        p = torch.exp(z) / torch.exp(z).sum(1, keepdim=True)
        return -(p * torch.log(p)).sum(1).mean()

    g = gamma0.clone().requires_grad_(True)
    b = beta0.clone().requires_grad_(True)
    ref_loss = reference(g, b)
    ref_dg, ref_db = torch.autograd.grad(ref_loss, [g, b])
    lr, b1_, b2_, eps = 1e-3, 0.9, 0.999, 1e-8

    def adam(p, grad):  # first Adam step, bias-corrected
        m, v = (1 - b1_) * grad, (1 - b2_) * grad ** 2
        return p - lr * (m / (1 - b1_)) / (torch.sqrt(v / (1 - b2_)) + eps)

    ref_after = reference(adam(gamma0, ref_dg), adam(beta0, ref_db))

    hook = TENTHook()
    mech = _Mechanics(hook, model)
    assert {id(p) for p in hook._params} == {id(model.bn.weight),
                                             id(model.bn.bias)}
    data = dict(inputs=x, data_samples=None)
    mech.hook._set_mode(model, 'train')
    with torch.enable_grad():
        loss, _ = mech.loss(data)
        hook.optimizer.zero_grad()
        loss.backward()
    assert float(loss) == pytest.approx(float(ref_loss), abs=1e-6)
    torch.testing.assert_close(model.bn.weight.grad, ref_dg, atol=1e-6,
                               rtol=0)
    torch.testing.assert_close(model.bn.bias.grad, ref_db, atol=1e-6,
                               rtol=0)
    assert model.conv1.weight.grad is None  # frozen
    hook.optimizer.step()
    with torch.no_grad():
        after, _ = mech.loss(data)
    assert float(after) == pytest.approx(float(ref_after), abs=1e-6)
    assert float(after) < float(loss)
    hook.teardown(None, model)
    assert model.bn.running_mean is not None and model.bn.track_running_stats


def test_norm_stats_normalises_as_the_formulas_say():
    """'batch': training-mode normalisation (mean, biased variance of the
    batch); 'mix': α·(mean, unbiased variance of the batch) + (1 − α)·source
    (AlphaBatchNorm); the running statistics stay the source's."""
    torch.manual_seed(0)
    bn = nn.BatchNorm2d(3)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
    src = (bn.running_mean.clone(), bn.running_var.clone())
    x = torch.randn(2, 3, 4, 5) * 2 + 1
    mean = x.mean(dim=(0, 2, 3))
    for mode, alpha, unbiased in (('batch', 1.0, False), ('mix', 0.3, True),
                                  ('mix', 1.0, True)):
        model = nn.Sequential(copy.deepcopy(bn))
        hook = NormStatsHook(mode=mode, alpha=alpha)
        hook.setup(None, model)
        model.eval()
        if mode == 'batch':  # what before_test_iter sets for prediction
            model[0].momentum = 0.0
            model[0].train()
        var = x.var(dim=(0, 2, 3), unbiased=unbiased)
        want = F.batch_norm(x, alpha * mean + (1 - alpha) * src[0],
                            alpha * var + (1 - alpha) * src[1], bn.weight,
                            bn.bias, False, 0.0, bn.eps)
        with torch.no_grad():
            torch.testing.assert_close(model(x), want, rtol=1e-5, atol=1e-5)
        hook.teardown(None, model)
        torch.testing.assert_close(model[0].running_mean, src[0])
        torch.testing.assert_close(model[0].running_var, src[1])
        assert model[0].momentum == 0.1


@pytest.mark.parametrize('name,kw', [
    ('TENTHook', dict(optimizer=dict(type='Adam', lr=1e-2))),
    ('TIPIHook', dict(lr_per_sample=None,
                      optimizer=dict(type='SGD', lr=0.05))),
    ('ActMADHook', dict(optimizer=dict(type='SGD', lr=1e-4))),
])
def test_objective_decreases_on_a_fixed_batch(name, kw):
    model = _stats_model()
    data = model.data_preprocessor(make_batch(n=2, h=32, w=32, seed=7),
                                   False)
    mech = _Mechanics(HOOKS.build(dict(type=name, **kw)), model)
    losses = [mech.step(data) for _ in range(4)]
    assert losses[-1] < losses[0], losses


def test_tipi_epsilon_and_perturbation():
    """ε = 2/255 of an 8-bit image is 2/std_c in the normalised input; the
    FGSM perturbation stays within ±ε and leaves padding alone."""
    std = [58.395, 57.12, 57.375]
    cfg = small_model_cfg(False, False)
    cfg['data_preprocessor'].update(mean=[123.675, 116.28, 103.53], std=std)
    model = MODELS.build(cfg)
    hook = TIPIHook()
    mech = _Mechanics(hook, model)
    torch.testing.assert_close(hook._eps.flatten(),
                               2.0 / torch.tensor(std))
    data = model.data_preprocessor(make_batch(n=2, h=40, w=50), False)
    assert data['inputs'].shape[2:] == (64, 64)  # padded
    seen = []

    def forward(inputs, branches, mask=None, generator=None):
        seen.append(inputs.detach().clone())
        return mech.forward(inputs, branches)

    hook._set_mode(model, 'train')
    with torch.enable_grad():
        hook.ttt_loss(forward, data['inputs'], data['data_samples'],
                      torch.Generator().manual_seed(0))
    assert len(seen) == 3  # clean, random start, FGSM step
    delta = seen[2] - seen[0]
    eps = hook._eps.view(1, 3, 1, 1)
    assert (delta.abs() <= eps * (1 + 1e-5)).all()
    inside = delta[:, :, :40, :50]
    # a full step of ε wherever the gradient is not exactly zero (the max
    # pooling of the stem passes no gradient to many pixels)
    at_eps = ((inside.abs() - eps).abs() < 1e-6).float().mean()
    assert at_eps > 0.5
    assert delta[:, :, 40:, :].abs().max() == 0  # padding untouched
    assert delta[:, :, :, 50:].abs().max() == 0
    hook.teardown(None, model)


# ---------------------------------------------------------- ActMAD's head
def test_actmad_stats_match_a_direct_computation():
    torch.manual_seed(0)
    model = MODELS.build(_actmad_cfg())
    head = model.aux_heads['actmad']
    assert not head.stats_ready() and not head.layer_names()
    batches = [make_batch(n=3, h=32, w=32, seed=s) for s in range(2)]
    batches.append(make_batch(n=1, h=32, w=32, seed=9))  # skipped: no var
    collect_source_stats(model, batches)
    assert head.stats_ready() and int(head.stats_batches) == 2
    names = head.layer_names()
    layers = dict(head.bn_layers(model))
    assert names == list(layers)  # every BN of backbone + decode head
    assert any(n.startswith('decode_head.decoders.') for n in names)
    assert any(n.startswith('backbone.') for n in names)
    # by hand: per batch, mean and unbiased variance over the samples of the
    # layer's output at every location; then the mean over batches
    name = 'decode_head.decoders.semseg.0.bn'
    outs = []
    h = layers[name].register_forward_hook(
        lambda m, i, o: outs.append(o.detach()))
    model.eval()
    with torch.no_grad():
        for b in batches[:2]:
            model.forward_branches(model.data_preprocessor(b, False)
                                   ['inputs'], ('main', ))
    h.remove()
    mean = torch.stack([o.mean(0) for o in outs]).mean(0)
    var = torch.stack([o.var(0) for o in outs]).mean(0)
    got_mean, got_var = head.source_stats(name)
    assert got_mean.shape == (8, 8, 8)  # (C, H/4, W/4)
    torch.testing.assert_close(got_mean, mean, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got_var, var, rtol=1e-5, atol=1e-6)


def test_actmad_stats_load_strictly_into_a_fresh_model():
    model = _stats_model()
    state = model.state_dict()
    assert any(k.startswith('aux_heads.actmad.mean__') for k in state)
    fresh = MODELS.build(_actmad_cfg())
    fresh.load_state_dict(state)  # strict
    assert fresh.aux_heads['actmad'].stats_ready()
    fresh = MODELS.build(_actmad_cfg())
    report = load_weights(fresh, state, 'ckpt.pth')  # the tools' checked load
    assert report.complete
    torch.testing.assert_close(
        fresh.aux_heads['actmad'].source_stats('backbone.stem.1')[1],
        model.aux_heads['actmad'].source_stats('backbone.stem.1')[1])
    # a checkpoint without statistics loads into a model with the head
    plain = MODELS.build(small_model_cfg(False, False)).state_dict()
    fresh = MODELS.build(_actmad_cfg())
    assert load_weights(fresh, plain, 'plain.pth').complete
    assert not fresh.aux_heads['actmad'].stats_ready()
    copy.deepcopy(model)  # the monitor copies the model


def test_actmad_image_sizes():
    """Source statistics of 32x32 images: a 64x96 batch resizes them; with
    size_mismatch='error' it is a clear error; a batch of one image is not
    adapted."""
    model = _stats_model()
    data = model.data_preprocessor(make_batch(n=2, h=64, w=96), False)
    hook = ActMADHook()
    mech = _Mechanics(hook, model)
    hook._set_mode(model, 'eval')
    with torch.enable_grad():
        loss, parts = mech.loss(data)
    assert torch.isfinite(loss) and set(parts) == {'loss_mean', 'loss_var'}
    mean, var = hook._source('backbone.stem.1', (32, 48), 4)
    assert mean.shape == (4, 32, 48) and (var >= 0).all()
    hook.teardown(None, model)
    strict = ActMADHook(size_mismatch='error')
    mech = _Mechanics(strict, model)
    with pytest.raises(RuntimeError, match='source statistics are'):
        mech.loss(data)
    strict.teardown(None, model)
    one = model.data_preprocessor(make_batch(n=1, h=32, w=32), False)
    with pytest.raises(ValueError, match='at least 2 images'):
        mech = _Mechanics(ActMADHook(), model)
        mech.loss(one)


def test_actmad_freezes_what_its_objective_cannot_reach():
    """The parameters ActMAD's loss has no gradient for on a real batch
    (those after the last matched batch-norm layer) are exactly the ones
    its set-up freezes, from a zero batch, without moving a buffer; the
    others stay trainable, and the test gives them all back."""
    model = _stats_model()
    data = model.data_preprocessor(make_batch(n=2, h=64, w=96), False)
    # what the loss reaches, found independently on the real batch
    ref = copy.deepcopy(model)
    hook = ActMADHook()
    mech = _Mechanics(hook, ref)
    for p in ref.parameters():
        p.requires_grad_(True)
    hook._set_mode(ref, 'eval')
    with torch.enable_grad():
        loss, _ = mech.loss(data)
        loss.backward()
    unreached = {n for n, p in ref.named_parameters() if p.grad is None}
    assert unreached and len(unreached) < len(list(ref.parameters()))
    hook.teardown(None, ref)

    state = {k: v.clone() for k, v in model.state_dict().items()}
    modes = [m.training for m in model.modules()]
    hook = ActMADHook()
    mech = _Mechanics(hook, model)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen == unreached
    assert {id(p) for p in hook._params}.isdisjoint(
        id(p) for n, p in model.named_parameters() if n in frozen)
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in state.items())
    assert [m.training for m in model.modules()] == modes
    hook.teardown(None, model)
    assert all(p.requires_grad for p in model.parameters())


def test_actmad_head_errors():
    with pytest.raises(ValueError, match='regular expression'):
        ActMADStatsHead(layers='(')
    cfg = small_model_cfg(False, False)
    cfg['aux_heads'] = dict(
        actmad=dict(type='ActMADStatsHead', layers=r'^nothing'))
    model = MODELS.build(cfg)
    with pytest.raises(ValueError, match='no batch-norm layer'):
        collect_source_stats(model, [make_batch()])
    init_default_scope('mmseg')
