"""The four paper settings (configs/trttt/{t2n,t2p,n2t,p2t}.py) build at
paper scale, fail clearly without data, and run one train and one
test-time-training iteration on tiny synthetic data with a tiny backbone."""
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

import trttt_mm  # noqa: F401  (registers everything)
from mmseg.registry import DATASETS, MODELS

from config_helpers import TINY_RELATION, synthetic_benchmark, tiny

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
SETTINGS = {
    # name: (source folder, target folder, tasks, class names)
    't2n': ('taskonomy', 'NYUDv2', 4, 7),
    't2p': ('taskonomy', 'PASCAL_MT', 3, 6),
    'n2t': ('NYUDv2', 'taskonomy', 4, 7),
    'p2t': ('PASCAL_MT', 'taskonomy', 3, 6),
}
TYPES = dict(taskonomy='TaskonomyMultiTaskDataset',
             NYUDv2='NYUDv2MultiTaskDataset',
             PASCAL_MT='PascalContextMultiTaskDataset')


def load(name):
    return Config.fromfile(osp.join(REPO, 'configs', 'trttt', f'{name}.py'))


@pytest.fixture
def one_thread():
    """Tiny tensors: one intra-op thread avoids OpenMP overhead (large on a
    busy 2-core machine)."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope='module')
def synth(tmp_path_factory):
    return synthetic_benchmark(
        tmp_path_factory.mktemp('paper_cfg') / 'synth')


@pytest.mark.parametrize('name', sorted(SETTINGS))
def test_builds_at_paper_scale(name):
    src, tgt, num_tasks, num_classes = SETTINGS[name]
    cfg = load(name)
    model = MODELS.build(cfg.model)
    assert len(model.tasks) == num_tasks
    assert cfg.model.decode_head.num_classes == num_classes
    assert cfg.model.backbone.depth == 50
    # the released code's backbone: torchvision-style ResNet-50, ImageNet init
    assert cfg.model.backbone.type == 'ResNet'
    assert cfg.model.backbone.init_cfg == dict(
        type='Pretrained', checkpoint='torchvision://resnet50')
    head = cfg.model.aux_heads.relation
    rel = head.learner
    assert (rel.input_size, rel.patch_size, rel.embed_dim, rel.depth,
            rel.decoder_depth, rel.num_heads, rel.mask_strategy,
            rel.mask_ratio) == (256, 16, 64, 4, 2, 4, 'same', 0.8)
    assert head.projection.latent_channels == 64
    assert head.loss_weights == dict(tp=0.01, trl=0.01)
    assert cfg.ttt.TRTTTHook == dict(
        steps=40,
        optimizer=dict(type='SGD', lr=2e-5, weight_decay=1e-6, momentum=0.0),
        loss='activated_l1', loss_scale=0.01, params='all', norm_mode='train',
        reset='online')
    assert cfg.ttt.TTTMonitorHook == dict(eval_source=True, curve=True)
    assert cfg.train_cfg.max_iters == 60000
    assert cfg.optim_wrapper.optimizer.type == 'Adam'
    class_map = 't2p' if num_classes == 6 else 't2n'
    for loader, folder in (('train_dataloader', src), ('val_dataloader', src),
                           ('test_dataloader', tgt)):
        ds = cfg[loader].dataset
        assert ds.type == TYPES[folder]
        assert ds.data_root == f'data/{folder}'
        assert ds.class_map == class_map and len(ds.tasks) == num_tasks
    assert cfg.train_dataloader.dataset.split == 'train'


@pytest.mark.parametrize('name', ['t2p', 'n2t'])
def test_missing_data_says_where(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no data/ here
    cfg = load(name)
    for loader in ('train_dataloader', 'test_dataloader'):
        with pytest.raises(FileNotFoundError) as err:
            DATASETS.build(cfg[loader].dataset)
        msg = str(err.value)
        assert repr(cfg[loader].dataset.data_root) in msg
        assert 'Put the dataset there' in msg
        assert 'docs/datasets.md' in msg
        assert 'python tools/data/make_synthetic.py' in msg


@pytest.mark.parametrize('name', sorted(SETTINGS))
def test_one_train_and_test_iteration(name, synth, tmp_path, one_thread):
    from mmengine.runner import Runner
    cfg = tiny(load(name), synth, str(tmp_path / 'work'), 'TRTTTHook',
               TINY_RELATION)
    cfg.experiment_name = f'paper_{name}'
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 1
    metrics = runner.test()
    init_default_scope('mmseg')
    assert 'semseg/mIoU' in metrics and 'normal/mean_angle' in metrics
    assert ('depth/rmse' in metrics) == (SETTINGS[name][2] == 4)
    assert metrics['ttt/steps'] >= 1
    assert any(k.startswith('base/') for k in metrics)  # eval_source=True
