"""TTT (rotation head, TTTHook) and TTT++ (contrastive projection head,
TTTPlusPlusHook): source losses, source statistics, test-time objectives,
which parameters move, and the tools end to end."""
import copy
import json
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import init_default_scope

import trttt_mm  # noqa: F401
from mmseg.registry import HOOKS, MODELS
from trttt_mm.engine.hooks import (TTTHook, TTTPlusPlusHook,
                                   collect_source_stats)
from trttt_mm.models.aux_heads.contrastive_head import (coral, covariance,
                                                        linear_mmd, nt_xent)

import toy_data  # noqa: F401  (registers ToyMultiTaskDataset)
from model_helpers import assert_base_and_delta, make_batch, small_model_cfg
from tool_helpers import load_tool
from hook_helpers import HookTestCase

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
ROT = dict(rotation=dict(type='RotationHead', in_index=2))
SIM = dict(simclr=dict(type='ContrastiveProjectionHead', stats_chunk=4))


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def build(heads):
    init_default_scope('mmseg')
    torch.manual_seed(0)
    return MODELS.build(small_model_cfg(False, False, aux_heads=heads))


def fill_stats(model, n=4, seed=1):
    batches = [make_batch(2, 32, 32, seed=seed + i) for i in range(n)]
    return collect_source_stats(model, batches)


def hook_on(model, hook):
    """The hook's mechanics without a Runner (as the benchmark tool)."""
    hook.model = model
    hook.head_name = hook._resolve_head(model)
    hook.setup(None, model)
    hook._params = hook._select_params(model)
    hook.optimizer = hook._build_optimizer(model)
    return hook


def forward_fn(model):
    def forward(x, branches, mask=None, generator=None):
        return model(x, None, mode='branches', branches=branches, mask=mask,
                     generator=generator)
    return forward


# ----------------------------------------------------------------- the heads
def test_rotation_views_are_rotated_square_crops():
    model = build(ROT)
    head = model.aux_heads.rotation
    assert head.stage_names == ('layer4', )
    x = torch.randn(2, 3, 40, 50)
    v = head.views(x)
    assert v['inputs'].shape == (8, 3, 40, 40)
    assert v['labels'].tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    crop = x[:, :, :, 5:45]
    for k in range(4):
        assert torch.equal(v['inputs'][2 * k:2 * k + 2],
                           torch.rot90(crop, k, dims=(2, 3)))
    head.rotations, head.crop, head.crop_size = 'rand', 'random', 24
    g = torch.Generator().manual_seed(0)
    v = head.views(x, g)
    assert v['inputs'].shape == (2, 3, 24, 24)
    assert set(v['labels'].tolist()) <= {0, 1, 2, 3}


def test_rotation_head_copies_the_later_stages_and_refuses_others():
    model = build(dict(rotation=dict(type='RotationHead', in_index=1)))
    head = model.aux_heads.rotation
    assert head.stage_names == ('layer3', 'layer4')
    # same shapes as the backbone's stages, separate weights
    for name in head.stage_names:
        a = dict(getattr(head, name).named_parameters())
        b = dict(getattr(model.backbone, name).named_parameters())
        assert {k: v.shape for k, v in a.items()} == \
            {k: v.shape for k, v in b.items()}
        assert all(a[k] is not b[k] for k in a)
    last = build(dict(rotation=dict(type='RotationHead', in_index=-1)))
    assert last.aux_heads.rotation.stage_names == ()
    with pytest.raises(ValueError, match='rotations'):
        build(dict(rotation=dict(type='RotationHead', rotations='all')))
    with pytest.raises(ValueError, match='in_index'):
        build(dict(rotation=dict(type='RotationHead', in_index=7)))
    with pytest.raises(ValueError, match='backbone_cfg'):
        MODELS.build(dict(type='RotationHead', context=dict(
            feat_channels=[8, 16, 32, 64])))


def test_rotation_head_init_reaches_the_copy():
    model = build(ROT)
    w = model.aux_heads.rotation.layer4[0].conv1.weight.detach().clone()
    model.init_weights()
    # mmengine's ModuleDict: the segmentor's init_weights reaches the heads
    assert not torch.equal(w, model.aux_heads.rotation.layer4[0].conv1.weight)


@pytest.mark.parametrize('heads,key', [(ROT, 'rotation.loss_rotation'),
                                       (SIM, 'simclr.loss_contrastive')])
def test_source_loss_is_finite_and_decreases(heads, key):
    model = build(heads)
    model.train()
    data = model.data_preprocessor(make_batch(4, 32, 32), True)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    seen = []
    for _ in range(8):
        torch.manual_seed(0)  # the same augmented views every step
        losses = model(**data, mode='loss')
        assert all(torch.isfinite(v) for v in losses.values())
        seen.append(float(losses[key]))
        opt.zero_grad()
        sum(losses.values()).backward()
        opt.step()
    assert seen[-1] < seen[0], seen


def test_contrastive_views_and_outputs():
    model = build(SIM)
    head = model.aux_heads.simclr
    x = torch.randn(3, 3, 32, 40)
    g = torch.Generator().manual_seed(0)
    v = head.views(x, g)
    assert v['inputs'].shape == (6, 3, 32, 40) and v['num_views'] == 2
    assert torch.isfinite(v['inputs']).all()
    head.view_size = (16, 16)
    assert head.views(x, g)['inputs'].shape == (6, 3, 16, 16)
    out = model.forward_branches(x, ('simclr', ), generator=g)['simclr']
    assert out['view_embed'].shape == (6, 128)
    assert torch.allclose(out['view_embed'].norm(dim=1), torch.ones(6))
    # the un-augmented batch comes from the main pass (main_input)
    assert out['features'].shape == (3, 64) and out['proj'].shape == (3, 128)
    with pytest.raises(ValueError, match='crop_scale'):
        build(dict(simclr=dict(type='ContrastiveProjectionHead',
                               crop_scale=(0.5, 0.2))))


def test_nt_xent_and_moments_match_their_definitions():
    g = torch.Generator().manual_seed(0)
    z = F.normalize(torch.randn(6, 5, generator=g), dim=1)
    logits = z @ z.t() / 0.5
    logits.fill_diagonal_(float('-inf'))
    target = torch.tensor([3, 4, 5, 0, 1, 2])
    ref = F.cross_entropy(logits, target)
    assert nt_xent(z, 2, 0.5, None) == pytest.approx(float(ref), rel=1e-5)
    assert nt_xent(z, 2, 0.5, 0.07) == pytest.approx(
        float(ref) * 0.5 / 0.07, rel=1e-5)
    same = torch.cat([z[:3], z[:3]])
    assert nt_xent(same, 2, 0.5, None) < nt_xent(z, 2, 0.5, None)
    f = torch.randn(10, 4, generator=g)
    assert torch.allclose(covariance(f), torch.cov(f.t()), atol=1e-6)
    c1, c2 = torch.eye(4), 2 * torch.eye(4)
    assert float(coral(c1, c2)) == pytest.approx(4 / (4 * 16))
    assert float(linear_mmd(torch.zeros(4), torch.ones(4))) == 1.0


def test_source_statistics_of_the_contrastive_head():
    model = build(SIM)
    head = model.aux_heads.simclr
    assert not head.stats_ready()
    returned = []
    views = head.views
    head.views = lambda *a, **k: returned.append(views(*a, **k)) or \
        returned[-1]
    info = fill_stats(model)  # 8 samples, chunks of 4
    assert info['batches'] == 4 and head.stats_ready()
    # a statistics pass describes the un-augmented features: no views
    assert returned and all(r is None for r in returned)
    assert views(torch.randn(1, 3, 32, 32)) is not None  # views again
    feats = []
    model.eval()
    with torch.no_grad():
        for i in range(4):
            b = model.data_preprocessor(make_batch(2, 32, 32, seed=1 + i))
            feats.append(model.extract_feat(b['inputs'])[-1].mean((2, 3)))
    f = torch.cat(feats).double()
    assert torch.allclose(head.stats_mean_ext, f.mean(0), atol=1e-5)
    assert torch.allclose(head.stats_cov_ext, torch.cov(f.t()), atol=1e-5)
    c0, c1 = torch.cov(f[:4].t()), torch.cov(f[4:].t())
    assert float(head.stats_coral_ext) == pytest.approx(float(coral(c0, c1)),
                                                        rel=1e-4)
    assert float(head.stats_mmd_ssh) > 0
    # the statistics travel with the weights
    keys = model.state_dict().keys()
    assert 'aux_heads.simclr.stats_cov_ssh' in keys
    small = build(dict(simclr=dict(type='ContrastiveProjectionHead',
                                   stats_chunk=8)))
    with pytest.raises(RuntimeError, match='stats_chunk'):
        fill_stats(small)


# ------------------------------------------------ test-time objectives
@pytest.mark.parametrize('heads,hook', [
    (ROT, TTTHook(optimizer=dict(type='SGD', lr=0.05))),
    (SIM, TTTPlusPlusHook(optimizer=dict(type='SGD', lr=1e-3,
                                         momentum=0.9))),
])
def test_test_time_objective_decreases_on_a_fixed_batch(heads, hook):
    model = build(heads)
    if hook.head_type.has_source_stats:
        fill_stats(model)
    hook = hook_on(model, hook)
    hook._set_mode(model, 'eval')
    data = model.data_preprocessor(make_batch(4, 32, 32, seed=9), False)
    forward = forward_fn(model)

    def objective():
        g = torch.Generator().manual_seed(0)  # the same views each time
        return sum(hook.ttt_loss(forward, data['inputs'],
                                 data['data_samples'], g).values())

    with torch.no_grad():
        before = float(objective())
    for _ in range(5):
        loss = objective()
        hook.optimizer.zero_grad()
        loss.backward()
        hook.optimizer.step()
    with torch.no_grad():
        after = float(objective())
    assert after < before, (before, after)


def test_tttpp_loss_terms_and_queue():
    model = build(SIM)
    fill_stats(model)
    hook = hook_on(model, TTTPlusPlusHook())
    assert hook.queues['ext'].length == 4  # the head's stats_chunk
    data = model.data_preprocessor(make_batch(2, 32, 32), False)
    losses = hook.ttt_loss(forward_fn(model), data['inputs'],
                           data['data_samples'], torch.Generator())
    assert set(losses) == {'loss_contrastive', 'loss_coral_ext',
                           'loss_mmd_ext', 'loss_coral_ssh', 'loss_mmd_ssh'}
    q = hook.queues['ext']
    for i in range(3):
        q.push(torch.full((2, 3), float(i)))
    assert len(q) == 4 and q.get()[0, 0] == 1 and q.get(2)[0, 0] == 2
    assert q.get(0) is None
    only = TTTPlusPlusHook(contrastive=False, align_ssh=False,
                           divergence='mmd')
    only = hook_on(model, only)
    losses = only.ttt_loss(forward_fn(model), data['inputs'],
                           data['data_samples'], torch.Generator())
    assert set(losses) == {'loss_mmd_ext'}


def test_hook_arguments_are_checked():
    with pytest.raises(ValueError, match='divergence'):
        TTTPlusPlusHook(divergence='kl')
    with pytest.raises(ValueError, match='queue_size'):
        TTTPlusPlusHook(queue_size=0)
    with pytest.raises(ValueError, match='nothing to optimise'):
        TTTPlusPlusHook(contrastive=False, align_ext=False, align_ssh=False)
    with pytest.raises(ValueError, match='scale_ext'):
        TTTPlusPlusHook(scale_ext=-1)
    with pytest.raises(ValueError, match='reset'):
        TTTHook(reset='slow')


# -------------------------------------------------------- inside a Runner
class TestBaselineHooksInRunner(HookTestCase):

    def setUp(self):
        super().setUp()
        torch.set_num_threads(1)

    def _runner(self, heads, load_from=None, **hook):
        cfg = copy.deepcopy(self.cfg)
        cfg.model = small_model_cfg(False, False, aux_heads=heads)
        cfg.load_from = load_from
        cfg.custom_hooks = cfg.custom_hooks + [hook]
        cfg.experiment_name = f'base_{hook["type"]}_{id(hook)}'
        return self.build_runner(cfg)

    def _checkpoint(self, heads, stats=False):
        model = build(heads)
        if stats:
            fill_stats(model)
        path = osp.join(self.temp_dir.name, f'src_{len(heads)}_{stats}.pth')
        torch.save(dict(state_dict=model.state_dict()), path)
        return path

    @staticmethod
    def _moved(runner, before):
        after = runner.model.state_dict()
        return {k for k, v in after.items()
                if v.is_floating_point() and not torch.equal(v, before[k])}

    def test_ttt_moves_only_the_shared_encoder_and_the_head(self):
        for params in ('shared_and_head', 'shared'):
            runner = self._runner(ROT, self._checkpoint(ROT), type='TTTHook',
                                  params=params, restore_after=False,
                                  optimizer=dict(type='SGD', lr=0.5))
            runner.load_checkpoint(runner.cfg.load_from)
            before = {k: v.clone() for k, v in
                      runner.model.state_dict().items()}
            metrics = runner.test()
            assert metrics['ttt/steps'] == 3
            moved = self._moved(runner, before)
            weights = {k for k in moved if 'running' not in k}
            assert any(k.startswith('backbone.layer3.') for k in weights)
            if params == 'shared_and_head':
                assert any(k.startswith('aux_heads.rotation.layer4.')
                           for k in weights)
                allowed = ('backbone.', 'aux_heads.rotation.')
            else:
                allowed = ('backbone.', )
            # parameters and running statistics: never the later backbone
            # stage or the task decoders
            assert all(k.startswith(allowed) for k in moved), moved
            assert not any(k.startswith('backbone.layer4.') for k in moved)

    def test_tttpp_moves_only_the_encoder_and_needs_statistics(self):
        runner = self._runner(SIM, self._checkpoint(SIM),
                              type='TTTPlusPlusHook')
        with pytest.raises(RuntimeError, match='source_stats.py'):
            runner.test()
        for reset, queued in (('online', 4), ('episodic', 2)):
            runner = self._runner(SIM, self._checkpoint(SIM, stats=True),
                                  type='TTTPlusPlusHook', reset=reset,
                                  restore_after=False)
            runner.load_checkpoint(runner.cfg.load_from)
            before = {k: v.clone() for k, v in
                      runner.model.state_dict().items()}
            metrics = runner.test()
            assert metrics['ttt/steps'] == 3 and 'semseg/mIoU' in metrics
            moved = self._moved(runner, before)
            assert any(k.startswith('backbone.') and 'running' not in k
                       for k in moved)
            assert all(k.startswith('backbone.') for k in moved), moved
            hook = [h for h in runner.hooks
                    if isinstance(h, TTTPlusPlusHook)][0]
            assert len(hook.queues['ext']) == queued


# ------------------------------------------------------------ end to end
TINY = [
    'model.backbone.stem_channels=8', 'model.backbone.base_channels=8',
    'model.decode_head.in_channels=[8,16,32,64]',
    'model.decode_head.channels=16', 'model.decode_head.head_channels=8',
]


@pytest.fixture(scope='module')
def bench(tmp_path_factory):
    from trttt_mm.datasets.synthetic import generate_benchmark
    root = str(tmp_path_factory.mktemp('synth_ttt'))
    generate_benchmark(root, seed=1, num_train=8, num_val=2,
                       num_target_train=2, num_target_val=4, height=32,
                       width=48, images_per_building=4, progress=False)
    return root


@pytest.mark.parametrize('method,hook,extra', [
    ('ttt', 'TTTHook', []),
    ('tttpp', 'TTTPlusPlusHook', ['model.aux_heads.simclr.stats_chunk=4']),
])
def test_train_then_test_with_the_hook(bench, tmp_path, method, hook,
                                       extra):
    config = osp.join(ROOT, 'configs', 'baselines', method, 'synth_t2n.py')
    data = [
        f'train_dataloader.dataset.data_root={bench}/taskonomy',
        f'val_dataloader.dataset.data_root={bench}/taskonomy',
        f'test_dataloader.dataset.data_root={bench}/NYUDv2',
        'train_dataloader.batch_size=4', 'test_dataloader.batch_size=2',
        'val_dataloader.batch_size=2',
    ]
    work = str(tmp_path / 'train')
    load_tool('train').main([
        config, '--work-dir', work, '--cfg-options', 'train_cfg.max_iters=2',
        'randomness.seed=0', 'train_cfg.val_interval=100',
        'default_hooks.checkpoint.interval=2',
        'param_scheduler.0.end=2', *TINY, *extra, *data
    ])
    ckpt = osp.join(work, 'iter_2.pth')
    if method == 'tttpp':  # SourceStatsHook filled the statistics
        sd = torch.load(ckpt, weights_only=True)['state_dict']
        assert float(sd['aux_heads.simclr.stats_count']) == 8
    out = str(tmp_path / 'ttt.json')
    load_tool('test').main([
        config, ckpt, '--tta-hook', hook, '--work-dir',
        str(tmp_path / 'test'), '--metrics-out', out, '--cfg-options',
        *TINY, *extra, *data
    ])
    metrics = json.load(open(out))
    assert metrics['ttt/steps'] == 2  # 4 target images, batch 2, 1 step
    assert_base_and_delta(metrics)


def test_hooks_are_registered_with_their_defaults():
    from mmengine.config import Config
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', 'baselines', 'ttt', 'synth_t2n.py'))
    for name, cls in (('TTTHook', TTTHook),
                      ('TTTPlusPlusHook', TTTPlusPlusHook)):
        assert HOOKS.get(name) is cls
        hook = HOOKS.build(dict(type=name, **cfg.ttt[name]))
        assert isinstance(hook, cls)
    assert cfg.ttt.TTTHook.optimizer == dict(type='SGD', lr=1e-3,
                                             momentum=0.0, weight_decay=0.0)
    assert cfg.ttt.TTTPlusPlusHook.optimizer.lr == 0.01
