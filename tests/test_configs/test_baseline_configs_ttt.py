"""The TTT and TTT++ configs (configs/baselines/{ttt,tttpp}/) build at their
scale, carry the official test-time defaults, and run one train and one
test-time-training iteration on tiny synthetic data with a tiny backbone."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import trttt_mm  # noqa: F401  (registers everything)
from mmseg.registry import MODELS

from config_helpers import synthetic_benchmark, tiny

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
METHODS = dict(ttt=('rotation', 'RotationHead', 'TTTHook'),
               tttpp=('simclr', 'ContrastiveProjectionHead',
                      'TTTPlusPlusHook'))
SETTINGS = ('t2n', 't2p', 'n2t', 'p2t')
NAMES = ('synth_t2n', ) + SETTINGS


def load(method, name):
    return Config.fromfile(
        osp.join(REPO, 'configs', 'baselines', method, f'{name}.py'))


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize('name', NAMES)
@pytest.mark.parametrize('method', sorted(METHODS))
def test_config_builds_with_its_head(method, name, one_thread):
    key, head_type, hook = METHODS[method]
    cfg = load(method, name)
    trttt = Config.fromfile(
        osp.join(REPO, 'configs', 'trttt', f'{name}.py'))
    # the same data and schedule as TR-TTT, without its head
    for k in ('train_dataloader', 'test_dataloader', 'train_cfg',
              'optim_wrapper', 'param_scheduler'):
        assert cfg[k] == trttt[k], k
    assert cfg.model.backbone == trttt.model.backbone
    assert cfg.model.decode_head == trttt.model.decode_head
    assert list(cfg.model.aux_heads) == [key]
    model = MODELS.build(cfg.model)
    head = model.aux_heads[key]
    assert type(head).__name__ == head_type
    c_last = 256 if name == 'synth_t2n' else 2048
    if method == 'ttt':
        assert head.stage_names == ('layer4', )
        assert head.fc.in_features == c_last
        assert cfg.ttt.TTTHook == dict(
            steps=1, optimizer=dict(type='SGD', lr=1e-3, momentum=0.0,
                                    weight_decay=0.0),
            params='shared_and_head', norm_mode='train', reset='online')
    else:
        assert [m.weight.shape for m in head.mlp if hasattr(m, 'weight')] \
            == [(c_last, c_last), (128, c_last)]
        assert head.stats_cov_ext.shape == (c_last, c_last)
        assert head.stats_chunk == (64 if name == 'synth_t2n' else 256)
        assert [h.type for h in cfg.custom_hooks] == [
            'PlainCheckpointHook', 'SourceStatsHook']
        d = cfg.ttt.TTTPlusPlusHook
        assert (d.scale_ext, d.scale_ssh, d.mmd_factor, d.params,
                d.optimizer.lr, d.optimizer.momentum) == (
                    0.05, 0.2, 0.5, 'encoder', 0.01, 0.9)
    assert hook in cfg.ttt


@pytest.fixture(scope='module')
def synth(tmp_path_factory):
    return synthetic_benchmark(
        tmp_path_factory.mktemp('baseline_cfg') / 'synth', num_train=4)


#: per method: 4 source images, 2 chunks of 2 for TTT++'s source-side
#: discrepancy
TINY_HEADS = dict(ttt={}, tttpp={'model.aux_heads.simclr.stats_chunk': 2})


@pytest.mark.parametrize('name', SETTINGS)
@pytest.mark.parametrize('method', sorted(METHODS))
def test_one_train_and_test_iteration(method, name, synth, tmp_path,
                                      one_thread):
    from mmengine.runner import Runner
    # the hook keeps the setting's own number of steps
    cfg = tiny(load(method, name), synth, str(tmp_path / 'work'),
               METHODS[method][2], TINY_HEADS[method], steps=None)
    cfg.experiment_name = f'baseline_{method}_{name}'
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 1
    key = METHODS[method][0]
    if method == 'tttpp':  # SourceStatsHook ran after the last iteration
        assert runner.model.aux_heads[key].stats_ready()
    metrics = runner.test()
    init_default_scope('mmseg')
    assert 'semseg/mIoU' in metrics and 'normal/mean_angle' in metrics
    assert metrics['ttt/steps'] >= 1
    assert any(k.startswith('base/') for k in metrics)
