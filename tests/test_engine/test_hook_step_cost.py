"""What one test-time step costs beyond the method's arithmetic: host
synchronisations (tensor-to-host conversions) and forward passes that no
objective reads."""
import collections
import copy
from types import SimpleNamespace

import pytest
import torch
from mmengine.logging import MessageHub, MMLogger
from mmengine.registry import init_default_scope

import trttt_mm  # noqa: F401
from mmseg.models.backbones import ResNet
from mmseg.registry import HOOKS, MODELS
from trttt_mm.engine.hooks.guard import (HostSyncCounter, StepSnapshot,
                                         nonfinite_count)
from trttt_mm.models.segmentors.multi_task_encoder_decoder import EncoderPass

from model_helpers import make_batch, small_model_cfg


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _runner(model):
    return SimpleNamespace(
        model=model, message_hub=MessageHub.get_instance('step_cost'),
        logger=MMLogger.get_current_instance())


def _model(depth=18, width=8, heads=None, relation=True, seed=0):
    init_default_scope('mmseg')
    torch.manual_seed(seed)
    cfg = small_model_cfg(relation, relation)
    chans = [width * 2**i for i in range(4)]
    if depth >= 50:
        chans = [c * 4 for c in chans]
    cfg['backbone'] = dict(type='ResNetV1c', depth=depth, stem_channels=8,
                           base_channels=width, out_indices=(0, 1, 2, 3))
    cfg['decode_head']['in_channels'] = chans
    if heads:
        cfg.setdefault('aux_heads', {}).update(heads)
    model = MODELS.build(cfg)
    model.init_weights()
    return model.eval()


def _hook(model, **cfg):
    hook = HOOKS.build(cfg)
    hook.before_test(_runner(model))
    return hook


# ------------------------------------------------------------ host reads
def test_counter_sees_every_kind_of_host_read():
    x = torch.tensor([1.0, -2.0, 3.0])
    with HostSyncCounter() as c:
        y = x * 2  # device work: not counted
        x.sum().item()
        bool(x.max() > 0)
        float(x[0])
        int(x.argmax())
        x.tolist()
        x.numpy()
        torch.equal(x, y)
        x.nonzero()
        if x.min() < 0:  # an implicit bool
            pass
    assert c.count == 9, c.where
    # the tools restore what they patched
    assert torch.Tensor.tolist is not None and x.tolist() == [1.0, -2.0, 3.0]


def _per_step(model, cfg, batch, steps):
    """Conversions of one before_test_iter with ``steps`` steps, after a
    warm-up batch (the optimizer's lazy state)."""
    hook = _hook(model, **dict(cfg, steps=1))
    runner = _runner(model)
    hook.before_test_iter(runner, 0, batch)
    hook.steps = steps
    with HostSyncCounter() as counter:
        hook.before_test_iter(runner, 1, batch)
    hook.after_test(runner)
    assert hook.total_steps == 1 + steps and hook.nonfinite_skips == 0
    return counter, hook


@pytest.mark.parametrize('cfg,per_step', [
    # TR-TTT: the guard's one read (the TRL knows the count of the mask it
    # draws without reading it)
    (dict(type='TRTTTHook', optimizer=dict(type='SGD', lr=1e-3)), 1),
    # TENT (Adam): the guard's one read; Adam's step counters are host
    # tensors (counted apart, no device synchronisation)
    (dict(type='TENTHook'), 1),
])
def test_a_step_reads_the_device_a_constant_number_of_times(cfg, per_step):
    """The collapse guard checks every loss, output, buffer, gradient and
    parameter with fused reductions and reads the host once per step,
    whatever the number of adapted tensors."""
    batch = make_batch(n=2, h=32, w=32, seed=3)
    seen = {}
    for depth, width in ((18, 8), (34, 16)):
        model = _model(depth, width)
        one, hook = _per_step(copy.deepcopy(model), cfg, batch, 1)
        three, _ = _per_step(model, cfg, batch, 3)
        seen[depth] = (one.count, three.count, len(hook._params))
        # a constant per step, nothing per batch besides the steps
        assert one.count == per_step, one.where
        assert three.count == 3 * per_step, three.where
        # the guard's own reads: one per step
        guard = [w for k, w in three.where if 'engine/hooks' in w]
        assert len(guard) == 3, three.where
    # the bigger model adapts many more tensors, with the same reads
    assert seen[34][2] >= seen[18][2] + 30, seen
    assert seen[18][:2] == seen[34][:2]


def test_step_losses_are_published_once_per_batch():
    model = _model()
    hook = _hook(model, type='TRTTTHook', steps=3,
                 optimizer=dict(type='SGD', lr=1e-3))
    runner = _runner(model)
    hook.before_test_iter(runner, 0, make_batch(n=2, h=32, w=32))
    losses = runner.message_hub.get_info('ttt/batch_losses')
    assert len(losses) == 3 and all(isinstance(v, float) for v in losses)


def test_nonfinite_count_finds_nan_and_inf_in_any_dtype():
    ok = torch.full((4, ), 3e38)  # huge but finite
    assert nonfinite_count([ok, torch.zeros(0), torch.arange(3)]) == 0
    nan = torch.tensor([1.0, float('nan')])
    inf = torch.tensor([float('-inf')], dtype=torch.float64)
    half = torch.tensor([float('inf')], dtype=torch.float16)
    assert nonfinite_count({'a': [nan, ok], 'b': (inf, half)}) == 3
    assert nonfinite_count(torch.tensor(float('nan'))) == 1


def test_snapshot_restores_tensors_and_the_optimizer_state_in_place():
    p = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    buf = torch.tensor([5.0])
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
    snap = StepSnapshot()
    snap.take([p, buf], opt)  # no optimizer state yet
    p.grad = torch.ones(2)
    opt.step()
    buf.add_(1)
    opt.param_groups[0]['lr'] = 7.0
    snap.restore(opt)
    assert torch.equal(p.detach(), torch.tensor([1.0, 2.0]))
    assert torch.equal(buf, torch.tensor([5.0]))
    assert opt.state_dict()['state'] == {}
    assert opt.param_groups[0]['lr'] == 0.1
    # with a momentum buffer: it comes back too, copies are reused
    opt.step()
    snap.take([p, buf], opt)
    copies = snap._copies
    momentum = opt.state[p]['momentum_buffer'].clone()
    weights = p.detach().clone()
    opt.step()
    snap.restore(opt)
    assert torch.equal(opt.state[p]['momentum_buffer'], momentum)
    assert torch.equal(p.detach(), weights)
    snap.take([p, buf], opt)
    assert snap._copies is copies  # same tensors: copied into, no clones


# ------------------------------------------------------ no wasted passes
ROT = dict(rotation=dict(type='RotationHead', in_index=2))
FLOW = dict(flow=dict(type='FlowHead', hidden_channels=8))
CLUS = dict(clust3=dict(type='ClusterHead', num_projectors=3))
NC = dict(ncttt=dict(type='NoiseContrastHead', embed_channels=32))


class _Counting:
    """Count the calls of the main decoder (the decode head's fusion and
    its task decoders) and of the backbone's last stage by wrapping their
    ``forward`` (a forward hook would itself make the segmentor run them:
    it treats hooked modules as having side effects)."""

    def __init__(self, model):
        self.seen = collections.Counter()
        head = model.decode_head
        parts = dict(fuse=head.fuse_conv, layer4=model.backbone.layer4)
        parts.update({f'decoder.{t}': m for t, m in head.decoders.items()})
        self.parts = parts

    def _wrap(self, name, forward):
        def counted(*args, **kwargs):
            self.seen.update([name])
            return forward(*args, **kwargs)
        return counted

    def __enter__(self):
        for name, m in self.parts.items():
            m.forward = self._wrap(name, m.forward)
        return self.seen

    def __exit__(self, *exc):
        for m in self.parts.values():
            del m.forward  # back to the class's method


@pytest.mark.parametrize('heads,cfg,layer4', [
    (ROT, dict(type='TTTHook'), False),
    (FLOW, dict(type='TTTFlowHook'), False),
    # ClusT3 and NC-TTT put the whole backbone's norm layers in training
    # mode (the official net.train()): the last stage still runs, for its
    # running statistics, but not the decoder
    (CLUS, dict(type='ClusT3Hook'), True),
    (NC, dict(type='NCTTTHook'), True),
    (NC, dict(type='NCTTTHook', norm_scope='adapted'), False),
])
def test_encoder_stage_objectives_do_not_run_the_main_decoder(
        heads, cfg, layer4):
    model = _model(heads=heads, relation=False)
    hook = _hook(model, **dict(cfg, steps=2))
    with _Counting(model) as seen:
        hook.before_test_iter(_runner(model), 0,
                              make_batch(n=2, h=32, w=40, seed=1))
    assert hook.total_steps == 2
    assert not any(k.startswith(('fuse', 'decoder')) for k in seen), seen
    assert bool(seen['layer4']) == layer4, seen
    # the prediction still runs the whole main branch
    with _Counting(model) as seen, torch.no_grad():
        model.test_step(make_batch(n=1, h=32, w=32))
    assert seen['fuse'] == 1 and seen['layer4'] == 1
    assert all(seen[f'decoder.{t}'] == 1 for t in model.tasks)


@pytest.mark.parametrize('deep_stem', [True, False])
def test_encoder_pass_is_the_backbone_stage_by_stage(deep_stem):
    torch.manual_seed(0)
    backbone = ResNet(depth=18, stem_channels=8, base_channels=8,
                      deep_stem=deep_stem, out_indices=(0, 1, 2, 3))
    backbone.eval()  # (mmseg's ResNet.train returns None)
    x = torch.randn(2, 3, 40, 48)
    with torch.no_grad():
        full = backbone(x)
        lazy = EncoderPass(backbone, x)
        assert len(lazy) == 4
        assert torch.equal(lazy[1], full[1])
        assert lazy.computed_stages == 2  # layer1, layer2
        assert torch.equal(lazy[-1], full[3])
        assert all(torch.equal(a, b) for a, b in zip(lazy, full))


def test_a_stage_not_read_still_runs_when_it_moves_statistics():
    model = _model(heads=FLOW, relation=False)
    bn = model.backbone.layer4[0].bn1
    x = torch.randn(2, 3, 32, 32)
    before = bn.running_mean.clone()
    with torch.no_grad():
        out = model.forward_branches(x, ('flow', ))
    assert torch.equal(bn.running_mean, before)  # eval: layer4 skipped
    assert out['shared'] is None
    bn.train()
    with torch.no_grad():
        again = model.forward_branches(x, ('flow', ))
    assert not torch.equal(bn.running_mean, before)  # it ran
    assert torch.equal(again['flow']['z'], out['flow']['z'])
    # and the head reads what the full pass computes
    bn.eval()
    with torch.no_grad():
        feats = model.extract_feat(x)
        ref = model.aux_heads.flow(feats[1])
    assert torch.equal(ref['z'], out['flow']['z'])


def test_the_cheap_bound_is_confirmed_before_a_rollback():
    """The 2-norm bound flags a finite tensor whose squares overflow; the
    exact count does not, and the guard decides on the exact count."""
    huge = torch.full((8, ), 1e30)
    nan = torch.tensor([1.0, float('nan')])
    half = torch.full((4, ), 6e4, dtype=torch.float16)
    assert nonfinite_count([huge, half], exact=False) == 1  # 1e60 overflows
    assert nonfinite_count([huge, half]) == 0
    assert nonfinite_count([nan, half], exact=False) == 1
    hook = HOOKS.build(dict(type='TENTHook'))
    loss = torch.tensor(0.5)
    bound = torch.tensor([0., 0., 0., 0., 1.])  # parameters "overflow"
    calls = []

    def exact(counts):
        def fn():
            calls.append(1)
            return torch.tensor(counts)
        return fn

    reason, values = hook._decide(bound, [loss], loss,
                                  exact([0., 0., 0., 0., 0.]))
    assert reason is None and values == [0.5] and len(calls) == 1
    reason, values = hook._decide(bound, [loss], loss,
                                  exact([0., 0., 0., 0., 2.]))
    assert 'non-finite parameters' in reason and values == []
    # a zero bound needs no confirmation
    reason, values = hook._decide(torch.zeros(5), [loss], loss,
                                  exact([0., 0., 0., 0., 2.]))
    assert reason is None and len(calls) == 2
