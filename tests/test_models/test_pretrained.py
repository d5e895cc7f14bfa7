"""ImageNet initialisation through mmengine's ``Pretrained`` init, offline:
``torchvision://`` read from the torch hub cache, a clear error naming the
path when the file is missing, and a local file. No download: the weights
are a tiny fake state dict made here."""
import os
import os.path as osp

import pytest
import torch

from mmseg.registry import MODELS
from trttt_mm.utils.pretrained import (check_pretrained, hub_checkpoint_dir,
                                       resolve_checkpoint)


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty torch hub folder for this test only."""
    import torch.hub
    before = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / 'hub'))
    yield tmp_path / 'hub'
    torch.hub.set_dir(before)


def _resnet(init_cfg=None):
    # the torchvision-style ResNet (mmseg ResNet, style 'pytorch'), 18 deep
    # and narrow so the fake weights are tiny
    return MODELS.build(dict(type='mmseg.ResNet', depth=18, stem_channels=8,
                             base_channels=8, style='pytorch',
                             init_cfg=init_cfg))


def _model(init_cfg):
    from model_helpers import small_model_cfg
    cfg = small_model_cfg(relation=False)
    cfg['backbone'] = dict(type='ResNet', depth=18, stem_channels=8,
                           base_channels=8, style='pytorch',
                           out_indices=(0, 1, 2, 3), init_cfg=init_cfg)
    return MODELS.build(cfg)


def _fake_weights(path):
    torch.manual_seed(123)
    state = {k: v for k, v in _resnet().state_dict().items()}
    state['fc.weight'] = torch.zeros(10, 64)  # as torchvision files have
    torch.save(state, path)
    return state


def test_torchvision_scheme_reads_the_hub_cache(hub):
    found = resolve_checkpoint('torchvision://resnet18')
    assert found['path'] == osp.join(hub_checkpoint_dir(), 'resnet18-'
                                     'f37072fd.pth')
    assert found['path'].startswith(str(hub))
    os.makedirs(osp.dirname(found['path']), exist_ok=True)
    state = _fake_weights(found['path'])
    model = _model(dict(type='Pretrained',
                        checkpoint='torchvision://resnet18'))
    model.init_weights()
    own = model.backbone.state_dict()
    for k, v in own.items():
        assert torch.equal(v, state[k]), k


def test_missing_file_names_the_path(hub):
    model = _model(dict(type='Pretrained',
                        checkpoint='torchvision://resnet50'))
    with pytest.raises(FileNotFoundError) as err:
        model.init_weights()
    msg = str(err.value)
    path = osp.join(str(hub), 'checkpoints', 'resnet50-0676ba61.pth')
    assert path in msg
    assert 'https://download.pytorch.org/models/resnet50-0676ba61.pth' in msg
    assert 'model.backbone.init_cfg.checkpoint' in msg
    with pytest.raises(FileNotFoundError, match='does not exist'):
        check_pretrained(str(hub / 'nope.pth'), 'model.backbone.init_cfg')


def test_local_file(tmp_path, hub):
    path = str(tmp_path / 'r18.pth')
    state = _fake_weights(path)
    model = _model(dict(type='Pretrained', checkpoint=path))
    model.init_weights()
    assert torch.equal(model.backbone.conv1.weight, state['conv1.weight'])
    assert torch.equal(model.backbone.layer4[1].bn2.running_var,
                       state['layer4.1.bn2.running_var'])
    # other schemes are left to mmengine
    assert resolve_checkpoint('open-mmlab://resnet50_v1c') is None
