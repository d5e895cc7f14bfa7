"""TTTFlow, ClusT3 and NC-TTT: their source-time heads, their test-time
hooks (objective, which parameters and statistics move), TTTFlow's flow
stage, and the tools end to end on a tiny model."""
import copy
import json
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from mmengine.registry import init_default_scope

import trttt_mm  # noqa: F401
from mmseg.registry import HOOKS, MODELS
from trttt_mm.datasets.synthetic import generate_benchmark
from trttt_mm.engine.hooks import (ClusT3Hook, FlowStageHook, NCTTTHook,
                                   TTTFlowHook)
from trttt_mm.engine.hooks.encoder_stages import (encoder_stage_regex,
                                                  feature_valid_mask)
from trttt_mm.models.aux_heads.cluster_head import cluster_loss
from trttt_mm.models.aux_heads.noise_contrast_head import soft_noise_target

import toy_data  # noqa: F401  (registers ToyMultiTaskDataset)
from model_helpers import assert_base_and_delta, make_batch, small_model_cfg
from tool_helpers import load_tool
from hook_helpers import HookTestCase

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))

#: method -> (head name, head config for the tiny model, hook name,
#: source-loss key, default adapted stage)
METHODS = {
    'tttflow': ('flow', dict(type='FlowHead', hidden_channels=8),
                'TTTFlowHook', 'flow.loss_nll', 2),
    'clust3': ('clust3', dict(type='ClusterHead', num_projectors=3),
               'ClusT3Hook', 'clust3.loss_cluster', 3),
    'ncttt': ('ncttt', dict(type='NoiseContrastHead', embed_channels=32),
              'NCTTTHook', 'ncttt.loss_nc', 2),
}


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_cfg(method):
    name, head, _, _, _ = METHODS[method]
    return small_model_cfg(relation=False, aux_heads={name: dict(head)})


def build(method, seed=0):
    init_default_scope('mmseg')
    torch.manual_seed(seed)
    model = MODELS.build(tiny_cfg(method))
    model.init_weights()
    return model


def prepared_hook(method, model, **kw):
    """The hook with its mechanics set up as before_test does."""
    hook = HOOKS.build(dict(type=METHODS[method][2], **kw))
    hook.before_test(SimpleNamespace(model=model))
    return hook


# ------------------------------------------------------------- source heads
@pytest.mark.parametrize('method', sorted(METHODS))
def test_source_loss_is_finite_and_decreases(method, one_thread):
    model = build(method)
    model.train()
    data = model.data_preprocessor(make_batch(n=2, h=32, w=32), True)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    key = METHODS[method][3]
    seen = []
    for _ in range(6):
        losses = model.loss(data['inputs'], data['data_samples'])
        assert key in losses and torch.isfinite(losses[key])
        seen.append(float(losses[key]))
        opt.zero_grad()
        sum(losses.values()).backward()
        opt.step()
    assert seen[-1] < seen[0], seen


def test_cluster_loss_is_the_stated_loss_for_any_batch_size():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 2, 4, 5, 6, generator=g)  # B, P, K, H, W
    p = logits.softmax(2)
    ent = -(p * p.log()).sum(2).mean(dim=(0, 2, 3))
    bar = p.mean(dim=(0, 3, 4))  # (P, K): the batch's mean assignment
    kl = (0.25 * (torch.log(torch.tensor(0.25)) - bar.log())).sum(1)
    assert cluster_loss(logits).item() == pytest.approx(
        (ent + kl).sum().item(), rel=1e-5)
    # per image: the batch of one of the official code, image by image
    per = cluster_loss(logits, marginal_over='image')
    singles = [cluster_loss(logits[i:i + 1]) for i in range(3)]
    assert per.item() == pytest.approx(sum(singles).item() / 3, rel=1e-5)
    # the official marginal: softmax of the mean logits
    bar_l = logits.mean(dim=(0, 3, 4)).softmax(-1)
    kl_l = (0.25 * (torch.log(torch.tensor(0.25)) - bar_l.log())).sum(1)
    assert cluster_loss(logits, marginal='logits').item() == pytest.approx(
        (ent + kl_l).sum().item(), rel=1e-5)
    # a mask leaves the masked positions out entirely
    valid = torch.ones(3, 1, 5, 6, dtype=torch.bool)
    valid[:, :, :, 3:] = False
    assert cluster_loss(logits, valid).item() == pytest.approx(
        cluster_loss(logits[..., :3]).item(), rel=1e-5)


def test_noise_target_is_the_posterior_of_the_high_noise():
    d = 64
    # a typical high-noise vector -> 1, a typical low-noise vector -> 0
    assert soft_noise_target(torch.tensor(d * 0.1**2), d, 0.1, 0.015) > .999
    assert soft_noise_target(torch.tensor(d * 0.015**2), d, 0.1, 0.015) == 0
    # equal likelihoods at the crossing point -> 0.5
    r2 = 2 * d * torch.log(torch.tensor(0.1 / 0.015)) / (
        (1 / 0.015)**2 - (1 / 0.1)**2)
    assert soft_noise_target(r2, d, 0.1, 0.015).item() == pytest.approx(
        0.5, abs=1e-4)


def test_bad_head_arguments_are_named():
    init_default_scope('mmseg')
    ctx = dict(context=dict(feat_channels=[8, 16]))
    with pytest.raises(ValueError, match='sigma_high'):
        MODELS.build(dict(type='NoiseContrastHead', sigma_high=0.01,
                          sigma_low=0.1, **ctx))
    with pytest.raises(ValueError, match='num_clusters'):
        MODELS.build(dict(type='ClusterHead', num_clusters=1, **ctx))
    with pytest.raises(ValueError, match='marginal'):
        MODELS.build(dict(type='ClusterHead', marginal='median', **ctx))
    with pytest.raises(ValueError, match='in_index 5'):
        MODELS.build(dict(type='FlowHead', in_index=5, **ctx))


# ------------------------------------------------------- test-time objectives
@pytest.mark.parametrize('method,optimizer', [
    ('tttflow', dict(type='SGD', lr=0.02, momentum=0.9)),
    ('clust3', dict(type='Adam', lr=1e-3)),
    ('ncttt', dict(type='Adam', lr=1e-3)),
])
def test_ttt_objective_decreases_on_a_fixed_batch(method, optimizer,
                                                  one_thread):
    model = build(method)
    hook = prepared_hook(method, model, steps=8, optimizer=optimizer)
    runner = SimpleNamespace(model=model)
    losses = hook._adapt(runner, model, make_batch(n=2, h=32, w=48))
    assert len(losses) == 8 and all(map(torch.isfinite,
                                        torch.tensor(losses)))
    assert losses[-1] < losses[0], losses


def test_adapt_up_to_selects_the_stem_and_the_stages():
    model = build('clust3')
    regex = encoder_stage_regex(model, 2)
    assert regex == r'^backbone\.(stem|layer1|layer2)\.'
    for method, (_, _, hook, _, stage) in METHODS.items():
        m = build(method)
        h = prepared_hook(method, m)
        assert h.adapted_stage == stage
        names = {n for n, p in m.named_parameters()
                 if any(p is q for q in h._params)}
        allowed = ('backbone.stem.',) + tuple(
            f'backbone.layer{k}.' for k in range(1, stage + 1))
        assert names and all(n.startswith(allowed) for n in names)
        assert any(n.startswith(f'backbone.layer{stage}.') for n in names)
    h = prepared_hook('tttflow', build('tttflow'), adapt_up_to=4)
    assert h.adapted_stage == 4
    with pytest.raises(ValueError, match='the backbone has the stages'):
        prepared_hook('tttflow', build('tttflow'), adapt_up_to=7)
    with pytest.raises(ValueError, match='not both'):
        TTTFlowHook(adapt_up_to=2, params='all')
    with pytest.raises(ValueError, match='norm_scope'):
        ClusT3Hook(norm_scope='decoder')
    with pytest.raises(ValueError, match='discriminator_mode'):
        NCTTTHook(discriminator_mode='frozen')


def test_padding_is_masked_at_feature_resolution():
    batch = make_batch(n=2, h=40, w=50)
    init_default_scope('mmseg')
    model = MODELS.build(tiny_cfg('tttflow'))
    data = model.data_preprocessor(batch, False)
    assert tuple(data['inputs'].shape[2:]) == (64, 64)
    valid = feature_valid_mask(data['inputs'], data['data_samples'], (8, 8))
    # 40 x 50 pixels: 5 x 6 whole cells of 8 x 8
    assert valid.shape == (2, 1, 8, 8) and int(valid[0].sum()) == 5 * 6
    full = make_batch(n=1, h=32, w=32)
    data = model.data_preprocessor(full, False)
    assert feature_valid_mask(data['inputs'], data['data_samples'],
                              (4, 4)) is None


# ------------------------------------------------ runs inside the test loop
class TestHooksInTheTestLoop(HookTestCase):

    num_samples = 4
    drop = ('val_dataloader', 'val_evaluator', 'val_cfg')

    def setUp(self):
        super().setUp()
        self.train_loader = dict(self.loader, sampler=dict(
            type='InfiniteSampler', shuffle=False))

    def _runner(self, method, name, **hook):
        cfg = copy.deepcopy(self.cfg)
        cfg.model = tiny_cfg(method)
        for key in ('train_dataloader', 'train_cfg', 'optim_wrapper',
                    'param_scheduler'):
            cfg.pop(key, None)
        cfg.custom_hooks = cfg.custom_hooks + [
            dict(type=METHODS[method][2], **hook)]
        cfg.experiment_name = name
        return self.build_runner(cfg)

    def test_only_the_intended_parameters_and_statistics_move(self):
        torch.set_num_threads(1)
        for method in sorted(METHODS):
            opt = dict(type='SGD', lr=0.05) if method == 'tttflow' else \
                dict(type='Adam', lr=1e-2)
            runner = self._runner(method, f'moves_{method}', steps=2,
                                  optimizer=opt, restore_after=False)
            model = runner.model
            before = {k: v.detach().clone()
                      for k, v in model.state_dict().items()}
            metrics = runner.test()
            assert metrics['ttt/steps'] == 2 * 2
            after = model.state_dict()
            changed = {k for k in before if not torch.equal(before[k],
                                                            after[k])}
            stage = METHODS[method][4]
            allowed = ('backbone.stem.',) + tuple(
                f'backbone.layer{k}.' for k in range(1, stage + 1))
            params = {n for n, _ in model.named_parameters()}
            moved = changed & params
            assert moved and all(k.startswith(allowed) for k in moved), (
                method, sorted(moved - {k for k in moved
                                        if k.startswith(allowed)}))
            # every head reads layer2: the gradient reaches it (ClusT3's
            # layer3 is selected, as officially, but gets no gradient)
            assert any(k.startswith('backbone.layer2.') for k in moved)
            # the decoders and the head keep their weights and statistics
            assert not any(k.startswith(('decode_head.', 'aux_heads.'))
                           for k in changed - {
                               k for k in changed
                               if k.startswith('aux_heads.ncttt.'
                                               'discriminator.1.')}), method
            # TTTFlow: only the adapted stages use batch statistics
            # (norm_scope='adapted'); ClusT3/NC-TTT: the whole backbone
            # (net.train() in the official code)
            layer4_stats = {k for k in changed
                            if k.startswith('backbone.layer4.')}
            assert bool(layer4_stats) == (method != 'tttflow'), method
            # NC-TTT: the discriminator's BatchNorm is in train mode
            # (official), the other heads have no norm layer
            disc = {k for k in changed if k.startswith('aux_heads.')}
            assert bool(disc) == (method == 'ncttt'), (method, disc)

    def test_flow_stage_trains_only_the_flow(self):
        torch.set_num_threads(1)
        init_default_scope('mmseg')
        source = MODELS.build(tiny_cfg('tttflow'))
        ckpt = osp.join(self.temp_dir.name, 'source.pth')
        state = {k: v for k, v in source.state_dict().items()
                 if not k.startswith('aux_heads.')}  # a plain source model
        torch.save(dict(state_dict=state, meta=dict()), ckpt)
        cfg = copy.deepcopy(self.cfg)
        cfg.model = tiny_cfg('tttflow')
        cfg.train_dataloader = self.train_loader
        cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=3,
                             val_interval=100)
        cfg.optim_wrapper = dict(
            optimizer=dict(type='SGD', lr=0.1, momentum=0.9,
                           weight_decay=5e-4),
            clip_grad=dict(max_norm=1.0))
        cfg.param_scheduler = []
        cfg.default_hooks = dict(checkpoint=dict(type='CheckpointHook',
                                                 interval=100))
        cfg.custom_hooks = cfg.custom_hooks + [dict(type='FlowStageHook')]
        cfg.load_from = ckpt
        cfg.experiment_name = 'flow_stage'
        runner = self.build_runner(cfg)
        runner.train()
        after = runner.model.state_dict()
        changed = {k for k in state if not torch.equal(state[k], after[k])}
        assert not changed, sorted(changed)[:5]  # BN statistics included
        flow = {k: v for k, v in after.items() if k.startswith('aux_heads.')}
        init = source.state_dict()
        assert any(not torch.equal(init[k], v) for k, v in flow.items())
        assert all(torch.isfinite(v.float()).all() for v in flow.values())
        # without the source weights the stage refuses to run
        cfg = copy.deepcopy(cfg)
        cfg.load_from = None
        cfg.experiment_name = 'flow_stage_no_ckpt'
        with pytest.raises(RuntimeError, match='load_from'):
            self.build_runner(cfg).train()


def test_flow_stage_hook_needs_one_flow_head():
    hook = FlowStageHook()
    model = build('clust3')
    with pytest.raises(ValueError, match='exactly one FlowHead'):
        hook._resolve(model)
    with pytest.raises(ValueError, match="'clust3' is not a FlowHead"):
        FlowStageHook(head='clust3')._resolve(model)


# ----------------------------------------------------------- the tools, e2e
_load_tool = load_tool


#: The demo configs shrunk to a tiny model (typed; also passed as
#: --cfg-options).
TINY = {
    'model.backbone.stem_channels': 8,
    'model.backbone.base_channels': 8,
    'model.decode_head.in_channels': [8, 16, 32, 64],
    'model.decode_head.channels': 16,
    'model.decode_head.head_channels': 8,
}
TINY_HEADS = {
    'tttflow': {'model.aux_heads.flow.hidden_channels': 8},
    'clust3': {'model.aux_heads.clust3.num_projectors': 2},
    'ncttt': {'model.aux_heads.ncttt.embed_channels': 16},
}


def _options(method, bench):
    tiny = dict(TINY, **TINY_HEADS[method])
    return [
        f'{k}={v}'.replace(' ', '') for k, v in tiny.items()
    ] + [
        f'train_dataloader.dataset.data_root={bench}/taskonomy',
        f'val_dataloader.dataset.data_root={bench}/taskonomy',
        f'test_dataloader.dataset.data_root={bench}/NYUDv2',
        'train_dataloader.batch_size=2', 'test_dataloader.batch_size=2',
        'val_dataloader.batch_size=2',
    ]


@pytest.fixture(scope='module')
def bench(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synth'))
    generate_benchmark(root, seed=3, num_train=2, num_val=2,
                       num_target_train=2, num_target_val=4, height=40,
                       width=48, images_per_building=2, progress=False)
    return root


@torch.no_grad()
def _calibrate_norm_stats(model, cfg, bench):
    """BatchNorm running statistics of the source images (cumulative
    average), so that the untrained source model's eval-mode features look
    like its train-mode ones, as a trained model's do."""
    from mmengine.dataset import pseudo_collate
    from mmseg.registry import DATASETS
    ds = DATASETS.build(dict(cfg.train_dataloader.dataset,
                             data_root=f'{bench}/taskonomy'))
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    batch = model.data_preprocessor(
        pseudo_collate([ds[i] for i in range(len(ds))]), True)
    model.extract_feat(batch['inputs'])
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.momentum = 0.1
    model.eval()


@pytest.mark.parametrize('method', sorted(METHODS))
def test_tools_end_to_end(method, bench, tmp_path, one_thread):
    """Source weights -> (TTTFlow: the flow stage through tools/train.py)
    -> tools/test.py --tta-hook on the target."""
    from mmengine.config import Config
    config = osp.join(ROOT, 'configs', 'baselines', method, 'synth_t2n.py')
    opts = _options(method, bench)
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(dict(TINY, **TINY_HEADS[method]))
    init_default_scope('mmseg')
    model = MODELS.build(cfg.model)
    _calibrate_norm_stats(model, cfg, bench)
    ckpt = str(tmp_path / 'source.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    if method == 'tttflow':
        train = _load_tool('train')
        work = str(tmp_path / 'flow')
        train.main([
            osp.join(ROOT, 'configs', 'baselines', method,
                     'synth_t2n_flow.py'), '--work-dir', work,
            '--cfg-options', f'load_from={ckpt}', 'train_cfg.max_iters=2',
            'train_cfg.val_interval=2', 'param_scheduler.0.end=2',
            'param_scheduler.0.T_max=2', 'default_hooks.checkpoint.interval=2',
            *opts
        ])
        ckpt = osp.join(work, 'iter_2.pth')
        assert osp.isfile(ckpt)
    hook = METHODS[method][2]
    out = str(tmp_path / 'metrics.json')
    _load_tool('test').main([
        config, ckpt, '--tta-hook', hook, '--work-dir', str(tmp_path / 't'),
        '--metrics-out', out, '--cfg-options', f'ttt.{hook}.steps=2', *opts
    ])
    metrics = json.load(open(out))
    assert metrics['ttt/steps'] == 2 * 2  # 4 target images, batch 2
    assert metrics['ttt/nonfinite_skips'] == 0
    assert all(metrics[f'{t}/nonfinite'] == 0
               for t in ('semseg', 'depth', 'normal', 'edge'))
    assert_base_and_delta(metrics)

