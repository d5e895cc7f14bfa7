import pytest
import torch
from mmengine.structures import PixelData

from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import trttt_mm  # noqa: F401
from trttt_mm.models.aux_heads import BaseAuxHead
from trttt_mm.tasks import stack_gts

from model_helpers import TASKS, make_batch, small_model_cfg  # noqa: F401


def test_preprocessor_pads_each_task_with_its_invalid_value():
    model = MODELS.build(small_model_cfg(False, False))
    data = model.data_preprocessor(make_batch(h=40, w=50), training=True)
    assert data['inputs'].shape == (2, 3, 64, 64)
    gts = stack_gts(data['data_samples'], TASKS)
    assert (gts['semseg'][..., 40:, :] == 255).all()
    assert (gts['semseg'][..., :, 50:] == 255).all()
    assert (gts['depth'][..., 40:, :] == 0).all()  # 0 = invalid depth
    assert (gts['normal'][..., :, 50:] == 0).all()
    assert (gts['edge'][..., 40:, :] == 255).all()
    assert data['data_samples'][0].padding_size == [0, 14, 0, 24]


def test_padding_never_counts_in_losses():
    """Changing the image-padding region of the ground truth is impossible;
    changing the outputs there must not change the losses."""
    torch.manual_seed(0)
    model = MODELS.build(small_model_cfg(False, False))
    data = model.data_preprocessor(make_batch(h=40, w=50), training=True)
    gts = stack_gts(data['data_samples'], TASKS)
    outs = {t: torch.randn(2, c, 64, 64)
            for t, c in model.decode_head.out_channels.items()}
    base = model.decode_head.loss_by_task(outs, gts)
    for t in outs:
        outs[t][..., 40:, :] = 1e3
        outs[t][..., :, 50:] = -1e3
    changed = model.decode_head.loss_by_task(outs, gts)
    for k in base:
        assert torch.allclose(base[k], changed[k]), k


@pytest.mark.parametrize('projection,relation', [(False, False),
                                                 (True, True), (False, True)])
def test_loss_keys_and_backward(projection, relation):
    model = MODELS.build(small_model_cfg(projection, relation))
    model.init_weights()
    data = model.data_preprocessor(make_batch(), training=True)
    losses = model(**data, mode='loss')
    expected = {f'loss_{t}' for t in TASKS}
    if projection and relation:
        expected |= {f'relation.tp.loss_{t}' for t in TASKS}
    if relation:
        expected |= {f'relation.trl.loss_{t}' for t in TASKS}
    # the main losses come first, then each head's, in a fixed order
    assert list(losses)[:4] == [f'loss_{t}' for t in TASKS]
    assert set(losses) == expected
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    grads = [p.grad for p in model.backbone.parameters()]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)


def test_image_reconstruction_target():
    model = MODELS.build(
        small_model_cfg(False, True, head_kw=dict(trl_target='image')))
    data = model.data_preprocessor(make_batch(), training=True)
    losses = model(**data, mode='loss')
    assert 'relation.trl.loss_image' in losses
    assert 'relation.trl.loss_semseg' not in losses
    out = model.forward_branches(data['inputs'], ('relation', ))
    assert out['relation']['trl']['image'].shape == data['inputs'].shape


def test_predict_fields_at_original_size_and_unflips():
    model = MODELS.build(small_model_cfg(False, False)).eval()
    batch = make_batch(n=1, h=40, w=50)
    batch['data_samples'][0].set_metainfo(dict(ori_shape=(80, 100)))
    data = model.data_preprocessor(batch, training=False)
    with torch.no_grad():
        (res, ) = model(**data, mode='predict')
    assert res.pred_sem_seg.data.shape == (1, 80, 100)
    assert res.seg_logits.data.shape == (3, 80, 100)
    assert res.pred_depth_map.data.shape == (1, 80, 100)
    assert res.pred_normal_map.data.shape == (3, 80, 100)
    norms = res.pred_normal_map.data.norm(dim=0)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-4)
    edge = res.pred_edge_map.data
    assert edge.min() >= 0 and edge.max() <= 1

    # A flipped sample is flipped back and its normals' x negated.
    out = model.encode_decode(data['inputs'], None)
    ds_plain = SegDataSample(metainfo=dict(img_shape=(40, 50),
                                           ori_shape=(40, 50)))
    ds_flip = SegDataSample(metainfo=dict(img_shape=(40, 50),
                                          ori_shape=(40, 50), flip=True,
                                          flip_direction='horizontal'))
    (plain, ) = model.postprocess_result(out, [ds_plain])
    (flip, ) = model.postprocess_result(out, [ds_flip])
    n0, n1 = plain.pred_normal_map.data, flip.pred_normal_map.data
    assert torch.allclose(n1[0], -n0[0].flip(-1), atol=1e-6)
    assert torch.allclose(n1[1:], n0[1:].flip(-1), atol=1e-6)
    assert torch.equal(flip.pred_sem_seg.data, plain.pred_sem_seg.data.flip(-1))


def test_forward_branches_contract():
    model = MODELS.build(small_model_cfg(True, True))
    x = torch.randn(2, 3, 32, 32)
    assert model.available_branches() == ('main', 'relation')
    out = model.forward_branches(x, ('main', 'relation'))
    for branch in (out['main'], out['relation']['tp'],
                   out['relation']['trl']):
        assert set(branch) == set(TASKS)
        assert branch['normal'].shape == (2, 3, 32, 32)
        assert branch['semseg'].shape == (2, 3, 32, 32)
    assert out['relation']['trl_mask'].dtype == torch.bool
    assert out['shared'].shape == (2, 16, 8, 8)
    # the same call through forward(mode='branches'), as the hooks do
    out2 = model(x, None, mode='branches', branches=('main', ))
    assert set(out2) >= {'feats', 'shared', 'main'}
    assert 'relation' not in out2  # a branch runs only when asked
    plain = MODELS.build(small_model_cfg(False, False))
    assert plain.available_branches() == ('main', )
    with pytest.raises(ValueError, match='relation'):
        plain.forward_branches(x, ('main', 'relation'))
    with pytest.raises(ValueError, match='no branch'):
        plain.forward_branches(x, ('nope', ))


@MODELS.register_module(force=True)
class _RotationViewsHead(BaseAuxHead):
    """A test head with its own views: 4 rotated copies of each image."""

    def __init__(self, context=None, **kw):
        super().__init__(source='backbone', in_index=-1, context=context, **kw)
        self.fc = torch.nn.Linear(self.in_channels_from_context(), 4)
        self.calls = 0

    def views(self, inputs, generator=None):
        self.calls += 1
        rots = [torch.rot90(inputs, k, dims=(2, 3)) for k in range(4)]
        labels = torch.arange(4).repeat_interleave(inputs.shape[0])
        return dict(inputs=torch.cat(rots), labels=labels)

    def forward(self, x, views=None, **kw):
        return dict(logits=self.fc(x.mean(dim=(2, 3))),
                    labels=views['labels'], batch=x.shape[0])

    def loss(self, outputs, gts, model, inputs):
        return dict(loss_rot=self.loss_weight * torch.nn.functional.
                    cross_entropy(outputs['logits'], outputs['labels']))


def test_aux_head_with_its_own_views_and_loss_prefix():
    cfg = small_model_cfg(False, False)
    cfg['aux_heads'] = dict(rot=dict(type='_RotationViewsHead',
                                     loss_weight=0.5))
    model = MODELS.build(cfg)
    head = model.aux_heads['rot']
    # the context gave the head the channels of the last backbone level
    assert head.fc.in_features == 64
    assert model.available_branches() == ('main', 'rot')
    x = torch.randn(2, 3, 32, 32)
    out = model.forward_branches(x, ('main', ))
    assert head.calls == 0  # no extra encoder pass unless the head is asked
    out = model.forward_branches(x, ('main', 'rot'))
    assert head.calls == 1
    assert out['rot']['batch'] == 8  # the encoder ran on the 4 views
    assert out['main']['depth'].shape[0] == 2
    data = model.data_preprocessor(make_batch(), training=True)
    losses = model(**data, mode='loss')
    assert 'rot.loss_rot' in losses
    sum(losses.values()).backward()
    assert head.fc.weight.grad.abs().sum() > 0


def test_bad_configs():
    with pytest.raises(ValueError, match='unknown task'):
        MODELS.build(small_model_cfg(False, False, tasks=('semseg', 'sky')))
    with pytest.raises(ValueError, match='loss_weights'):
        MODELS.build(small_model_cfg(head_kw=dict(loss_weights=dict(foo=1))))
    with pytest.raises(ValueError, match='trl_target'):
        MODELS.build(small_model_cfg(head_kw=dict(trl_target='text')))
    with pytest.raises(ValueError, match='invalid head name'):
        MODELS.build(small_model_cfg(False, False,
                                     aux_heads={'main': dict(type='x')}))


def test_normalize_channels_matches_f_normalize():
    """The fast normal normalisation is F.normalize's arithmetic: unit
    vectors, the eps floor on short vectors, zeros stay zero (finite
    gradient), same gradient."""
    import torch.nn.functional as F

    from trttt_mm.tasks import activate, normalize_channels
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 5, 7, generator=g, dtype=torch.float64)
    x[0, :, 0, 0] = 0.0
    x[1, :, 1, 1] = torch.tensor([3e-7, 0.0, 4e-7])  # norm 5e-7 < eps
    x.requires_grad_(True)
    ref = F.normalize(x, dim=1, eps=1e-6)
    out = normalize_channels(x)
    assert torch.allclose(out, ref, atol=1e-12)
    assert out[0, :, 0, 0].abs().sum() == 0
    # below eps the vector is divided by eps, not by its norm
    assert torch.allclose(out[1, :, 1, 1],
                          torch.tensor([0.3, 0.0, 0.4], dtype=torch.float64))
    norms = out.norm(dim=1)
    big = x.detach().norm(dim=1) > 1e-6
    assert torch.allclose(norms[big], torch.ones_like(norms[big]))
    w = torch.randn(out.shape, generator=g, dtype=torch.float64)
    g_ref, = torch.autograd.grad((ref * w).sum(), x)
    g_out, = torch.autograd.grad((out * w).sum(), x)
    assert torch.isfinite(g_out).all()
    assert torch.allclose(g_out, g_ref, atol=1e-9)
    assert torch.equal(activate('normal', x.detach()),
                       normalize_channels(x.detach()))
