"""The compact-TRL configs (docs/methods.md): the paper-scale
variant meets the parameter target and runs a train and a TR-TTT step; the
demo ablations say what their names say (configs/trttt/ablations/*.py are
also smoke-run by test_trttt_configs.py)."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmseg.registry import HOOKS, MODELS
from trttt_mm.models.relation import count_parameters

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))


def load(*parts):
    return Config.fromfile(osp.join(ROOT, 'configs', 'trttt', *parts))


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _overhead(model):
    base = sum(
        count_parameters(m)
        for m in (model.backbone, model.neck, model.decode_head)
        if m is not None)
    return count_parameters(model.aux_heads), base


def test_demo_ablations_say_what_their_names_say():
    compact = load('ablations', 'compact_trl.py')
    learner = compact.model.aux_heads.relation.learner
    assert (learner.token_layout, learner.share_patch_embed,
            learner.decoder_tokens) == ('per_task', True, 'fused')
    half = load('ablations', 'compact_trl_shared_embed.py')
    learner = half.model.aux_heads.relation.learner
    assert (learner.share_patch_embed, learner.decoder_tokens) == (True,
                                                                   'per_task')
    # everything else is the demo config
    demo = load('synth_t2n.py')
    assert compact.ttt == demo.ttt
    assert compact.model.decode_head == demo.model.decode_head
    assert compact.train_dataloader == demo.train_dataloader


def test_paper_scale_compact_meets_the_parameter_target(one_thread):
    cfg = load('t2n_compact.py')
    ref = load('t2n.py')
    learner = cfg.model.aux_heads.relation.learner
    assert (learner.share_patch_embed, learner.decoder_tokens) == (True,
                                                                   'fused')
    # only the TRL's two options differ from the paper setting
    learner.pop('share_patch_embed')
    learner.pop('decoder_tokens')
    assert cfg.model == ref.model
    assert cfg.ttt == ref.ttt and cfg.test_dataloader == ref.test_dataloader
    model = MODELS.build(load('t2n_compact.py').model)
    extra, base = _overhead(model)
    # default t2n: 5,699,660 / 23,554,124 (+24.20 %, torchvision-style
    # ResNet-50; +24.18 % of the ResNetV1c-50 model); the shared patch conv
    # saves (4 - 1) * (64 * 64 * 16 * 16 + 64), the fused decoder tokens the
    # 4 * 64 decoder task embedding.
    assert base == 23554124
    assert extra == 5699660 - 3 * (64 * 64 * 16 * 16 + 64) - 4 * 64
    assert 100.0 * extra / base <= 12.0

    # one supervised step and one TR-TTT step at paper scale, tiny batch
    from model_helpers import make_batch
    batch = make_batch(n=2, h=64, w=64)
    for ds in batch['data_samples']:
        ds.gt_sem_seg.data.clamp_(max=6)
    data = model.data_preprocessor(batch, training=True)
    losses = model(**data, mode='loss')
    assert any(k.startswith('relation.trl.') for k in losses)
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert model.aux_heads.relation.learner.patch_embed.weight.grad is not None

    hook = HOOKS.build(dict(cfg.ttt.TRTTTHook, type='TRTTTHook'))
    hook.model = model
    hook.head_name = hook._resolve_head(model)
    model.zero_grad(set_to_none=True)
    data = model.data_preprocessor(batch, training=False)
    ttt = hook.ttt_loss(
        lambda x, branches, mask=None, generator=None: model(
            x, None, mode='branches', branches=branches, mask=mask,
            generator=generator), data['inputs'], data['data_samples'],
        torch.Generator().manual_seed(0))
    loss = sum(ttt.values())
    assert torch.isfinite(loss)
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in model.backbone.parameters())
