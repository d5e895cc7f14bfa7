"""configs/trttt/released/: the released code's choices, each setting built
at paper scale and smoke-run (one train and one test-time iteration) on
synthetic fixture data with a shrunk model; TRTTTHook's test-time loss
weighting."""
import math
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub, MMLogger
from mmengine.registry import init_default_scope

import trttt_mm  # noqa: F401  (registers everything)
from mmseg.registry import HOOKS, MODELS

from config_helpers import TINY_RELATION, synthetic_benchmark, tiny

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
SETTINGS = {
    # name: (source folder, target folder, number of tasks, TTT weights)
    't2n': ('taskonomy', 'NYUDv2', 4,
            dict(semseg=1.0, depth=1.0, normal=10.0, edge=50.0)),
    't2p': ('taskonomy', 'PASCAL_MT', 3,
            dict(semseg=1.0, normal=10.0, edge=50.0)),
    'n2t': ('NYUDv2', 'taskonomy', 4,
            dict(semseg=1.0, depth=1.0, normal=1.0, edge=1.0)),
    'p2t': ('PASCAL_MT', 'taskonomy', 3,
            dict(semseg=1.0, normal=1.0, edge=1.0)),
}


def load(name):
    return Config.fromfile(
        osp.join(REPO, 'configs', 'trttt', 'released', f'{name}.py'))


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope='module')
def synth(tmp_path_factory):
    return synthetic_benchmark(
        tmp_path_factory.mktemp('released_cfg') / 'synth')


@pytest.mark.parametrize('name', sorted(SETTINGS))
def test_released_choices_at_paper_scale(name):
    src, tgt, num_tasks, weights = SETTINGS[name]
    cfg = load(name)
    model = MODELS.build(cfg.model)
    assert len(model.tasks) == num_tasks
    bb = cfg.model.backbone
    assert (bb.type, bb.depth, bb.style) == ('ResNet', 50, 'pytorch')
    assert bb.init_cfg == dict(type='Pretrained',
                               checkpoint='torchvision://resnet50')
    assert type(model.backbone).__name__ == 'ResNet'
    rel = model.aux_heads.relation.learner
    assert (rel.token_layout, rel.mask_strategy, rel.mask_ratio,
            rel.mask_count, rel.pos_embed_layout) == (
                'joint', 'same', 0.8, 'released', 'cols_first')
    assert (rel.input_size, rel.patch_size, rel.embed_dim,
            rel.decoder_embed_dim, len(rel.blocks),
            len(rel.decoder_blocks)) == ((256, 256), 16, 64, 64, 4, 2)
    hook = cfg.ttt.TRTTTHook
    assert (hook.loss, hook.reset, hook.steps, hook.params, hook.norm_mode,
            hook.loss_scale) == ('released', 'single_batch', 40, 'all',
                                 'train', 0.01)
    assert hook.optimizer == dict(type='SGD', lr=2e-5, weight_decay=1e-6,
                                  momentum=0.0)
    assert hook.task_weights == weights
    assert cfg.optim_wrapper.optimizer.type == 'Adam'
    assert cfg.train_cfg.max_iters == 60000
    head = model.aux_heads.relation
    if src == 'taskonomy':
        assert type(model.loss_weighting).__name__ == 'UncertaintyWeighting'
        assert head.loss_weights == dict(tp=1.0, trl=1.0)
        edge = model.decode_head.losses['edge']
        assert type(edge).__name__ == 'ContinuousEdgeL1Loss'
        assert edge.blur_sigma == 4.0 and edge.target_shift == -1.0
        assert edge.target_scale == pytest.approx(2 * 65535 / 409.6)
        assert all(model.decode_head.losses[t].loss_weight == 1.0
                   for t in model.tasks)
        for loader in ('train_dataloader', 'val_dataloader'):
            assert cfg[loader].dataset.edge_threshold is None
        assert 'loss_weighting' not in hook
    else:
        assert model.loss_weighting is None
        assert head.loss_weights == dict(tp=0.01, trl=0.01)
        assert hook.loss_weighting == dict(type='UncertaintyWeighting')
        assert cfg.test_dataloader.dataset.edge_threshold is None
        assert model.decode_head.losses['edge'].loss_weight == 50.0


@pytest.mark.parametrize('name', sorted(SETTINGS))
def test_one_train_and_test_iteration(name, synth, tmp_path, one_thread):
    from mmengine.runner import Runner
    # the decode head keeps its head_channels
    cfg = tiny(load(name), synth, str(tmp_path / 'work'), 'TRTTTHook',
               TINY_RELATION, head_channels=None)
    cfg.experiment_name = f'released_{name}'
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 1
    model = runner.model
    if SETTINGS[name][0] == 'taskonomy':
        # the learned weighting moved with the source training step
        assert not torch.equal(model.loss_weighting.params.detach(),
                               torch.ones(len(model.tasks)))
    metrics = runner.test()
    init_default_scope('mmseg')
    assert 'semseg/mIoU' in metrics and 'edge/rmse' in metrics
    assert metrics['ttt/steps'] == 1  # single batch, one step
    assert not hasattr(model, 'ttt_loss_weighting')  # removed after the test


# --------------------------------------------- the hook's loss weighting
def _runner(model):
    MessageHub.get_instance('released_cfg_test')
    return SimpleNamespace(model=model,
                           message_hub=MessageHub.get_current_instance(),
                           logger=MMLogger.get_current_instance())


def _model(**kw):
    from model_helpers import small_model_cfg
    torch.manual_seed(0)
    return MODELS.build(small_model_cfg(
        head_kw=dict(learner=dict(
            type='TaskRelationLearner', input_size=16, patch_size=4,
            embed_dim=16, depth=1, decoder_depth=1, num_heads=2,
            mask_ratio=0.5, token_layout='joint')), **kw))


def test_hook_builds_adapts_and_removes_a_fresh_weighting(one_thread):
    from model_helpers import make_batch
    model = _model()
    runner = _runner(model)
    hook = HOOKS.build(dict(type='TRTTTHook', loss='released', steps=2,
                            task_weights=dict(semseg=1., depth=1., normal=1.,
                                              edge=1.),
                            loss_weighting=dict(type='UncertaintyWeighting'),
                            optimizer=dict(type='SGD', lr=0.5)))
    hook.before_test(runner)
    weighting = model.ttt_loss_weighting
    assert torch.equal(weighting.params.data, torch.ones(4))
    assert any(p is weighting.params for p in hook._params)
    batch = make_batch(n=2, h=32, w=32)
    data = model.data_preprocessor(batch, False)
    forward = hook._forward_fn(runner)
    hook._outputs_finite = True
    gen = torch.Generator().manual_seed(5)
    plain = hook._task_losses(forward, data['inputs'], data['data_samples'],
                              gen)
    gen = torch.Generator().manual_seed(5)
    weighted = hook.ttt_loss(forward, data['inputs'], data['data_samples'],
                             gen)
    assert list(weighted) == [f'loss_{t}' for t in model.tasks]
    # total = loss_scale * sum(weighted) = sum_t 0.5 * 0.01 L_t + log 2
    total = hook.loss_scale * sum(weighted.values())
    expected = sum(0.5 * 0.01 * v for v in plain.values()) + 4 * math.log(2)
    assert total.item() == pytest.approx(expected.item(), rel=1e-5)
    hook.before_test_iter(runner, 0, batch)
    assert hook.total_steps == 2
    assert not torch.equal(weighting.params.data, torch.ones(4))
    hook.after_test(runner)
    assert not hasattr(model, 'ttt_loss_weighting')
    assert 'ttt_loss_weighting.params' not in model.state_dict()


def test_hook_uses_the_model_weighting():
    model = _model(loss_weighting=dict(type='UncertaintyWeighting'))
    runner = _runner(model)
    hook = HOOKS.build(dict(type='TRTTTHook', loss='released',
                            loss_weighting='model'))
    hook.before_test(runner)
    assert hook._weighting is model.loss_weighting
    hook.after_test(runner)
    assert model.loss_weighting is not None
    bare = HOOKS.build(dict(type='TRTTTHook', loss_weighting='model'))
    with pytest.raises(ValueError, match="loss_weighting='model'"):
        bare.before_test(_runner(_model()))
    with pytest.raises(ValueError, match='loss_weighting must be'):
        HOOKS.build(dict(type='TRTTTHook', loss_weighting='uncertainty'))
