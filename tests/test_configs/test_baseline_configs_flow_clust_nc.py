"""The TTTFlow, ClusT3 and NC-TTT configs (configs/baselines/{tttflow,
clust3,ncttt}/): every one builds with the official head values and
test-time defaults, and each paper setting runs one train and one
test-time-training iteration on tiny synthetic data with a tiny backbone."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

import trttt_mm  # noqa: F401  (registers everything)
from mmseg.registry import MODELS

from config_helpers import synthetic_benchmark, tiny

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
METHODS = ('tttflow', 'clust3', 'ncttt')
SETTINGS = ('t2n', 't2p', 'n2t', 'p2t')
HOOKS = dict(tttflow='TTTFlowHook', clust3='ClusT3Hook', ncttt='NCTTTHook')
HEADS = dict(tttflow='flow', clust3='clust3', ncttt='ncttt')
#: The official test-time defaults (docs/methods.md, "Baselines").
OFFICIAL_TTT = dict(
    TTTFlowHook=dict(
        steps=10,
        optimizer=dict(type='SGD', lr=1e-3, momentum=0.9, weight_decay=5e-4),
        adapt_up_to=None, norm_mode='train', norm_scope='adapted',
        reset='episodic'),
    ClusT3Hook=dict(
        steps=50, optimizer=dict(type='Adam', lr=1e-5), adapt_up_to=3,
        norm_mode='train', norm_scope='encoder', reset='episodic'),
    NCTTTHook=dict(
        steps=50, optimizer=dict(type='Adam', lr=1e-5), adapt_up_to=None,
        norm_mode='train', norm_scope='encoder', discriminator_mode='train',
        reset='episodic'))


def path(method, name):
    return osp.join(REPO, 'configs', 'baselines', method, f'{name}.py')


def all_configs():
    return sorted(
        osp.relpath(p, osp.join(REPO, 'configs', 'baselines'))
        for m in METHODS
        for p in glob.glob(osp.join(REPO, 'configs', 'baselines', m, '*.py')))


@pytest.fixture
def one_thread():
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_the_expected_configs_exist():
    want = {f'{m}/{s}.py' for m in METHODS for s in SETTINGS + ('synth_t2n', )}
    want |= {f'tttflow/{s}_flow.py' for s in SETTINGS + ('synth_t2n', )}
    assert want == set(all_configs())


@pytest.mark.parametrize('rel', all_configs())
def test_every_config_builds(rel, one_thread):
    method, name = rel[:-3].split('/')
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'baselines', rel))
    init_default_scope('mmseg')
    model = MODELS.build(cfg.model)
    head = model.aux_heads[HEADS[method]]
    assert tuple(model.aux_heads) == (HEADS[method], )  # no TR-TTT branch
    synth = name.startswith('synth_t2n')
    assert cfg.model.backbone.depth == (18 if synth else 50)
    assert cfg.train_cfg.max_iters == (
        1000 if synth else 60000) or name.endswith('_flow')
    hook = HOOKS[method]
    expected = dict(OFFICIAL_TTT[hook])
    if synth:  # the CPU demo runs fewer steps per batch
        expected['steps'] = 10
    assert cfg.ttt[hook] == expected
    if method == 'tttflow':
        assert head.in_index == 1 and len(head.flow.layers) == 6  # 3 + 3
        assert head.flow.layers[1].net[0].out_channels == (
            64 if synth else 512)
    elif method == 'clust3':
        assert head.in_indices == [0, 1]
        assert (head.num_clusters, head.num_projectors) == (10, 15)
        assert head.loss_weight == 1.0
    else:
        assert head.in_index == 1
        assert (head.sigma_high, head.sigma_low) == (0.1, 0.015)
        assert head.embed_channels == (256 if synth else 1536)
        assert head.loss_weight == 1.0
    if name.endswith('_flow'):
        assert cfg.load_from is None
        assert [h.type for h in cfg.custom_hooks] == [
            'PlainCheckpointHook', 'FlowStageHook']
        assert cfg.optim_wrapper.optimizer == dict(
            type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4)
        assert cfg.optim_wrapper.clip_grad == dict(max_norm=1.0)
        sched = cfg.param_scheduler[0]
        assert sched.type == 'CosineAnnealingLR'
        assert sched.end == sched.T_max == cfg.train_cfg.max_iters
        assert cfg.find_unused_parameters is True


@pytest.fixture(scope='module')
def synth(tmp_path_factory):
    return synthetic_benchmark(
        tmp_path_factory.mktemp('baseline_cfg') / 'synth')


TINY_HEADS = {
    'tttflow': {'model.aux_heads.flow.hidden_channels': 8},
    'clust3': {'model.aux_heads.clust3.num_projectors': 2},
    'ncttt': {'model.aux_heads.ncttt.embed_channels': 16},
}


@pytest.mark.parametrize('method', METHODS)
@pytest.mark.parametrize('name', SETTINGS)
def test_one_train_and_test_iteration(method, name, synth, tmp_path,
                                      one_thread):
    from mmengine.runner import Runner
    cfg = tiny(Config.fromfile(path(method, name)), synth,
               str(tmp_path / 'work'), HOOKS[method], TINY_HEADS[method])
    cfg.experiment_name = f'baseline_{method}_{name}'
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 1
    metrics = runner.test()
    init_default_scope('mmseg')
    assert 'semseg/mIoU' in metrics and 'normal/mean_angle' in metrics
    assert ('depth/rmse' in metrics) == (name in ('t2n', 'n2t'))
    assert metrics['ttt/steps'] == 1  # the synthetic target: one batch
    assert metrics['ttt/nonfinite_skips'] == 0
    assert any(k.startswith('base/') for k in metrics)
