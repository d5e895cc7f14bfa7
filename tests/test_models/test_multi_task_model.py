import pytest
import torch
from mmengine.structures import PixelData

from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import trttt_mm  # noqa: F401
from trttt_mm.models.data_preprocessors import stack_gts

TASKS = ('semseg', 'depth', 'normal', 'edge')


def small_model_cfg(projection=True, relation=True, tasks=TASKS, **kw):
    cfg = dict(
        type='MultiTaskEncoderDecoder',
        data_preprocessor=dict(
            type='MultiTaskDataPreProcessor', mean=[0, 0, 0], std=[1, 1, 1],
            bgr_to_rgb=False, size_divisor=32),
        backbone=dict(type='ResNetV1c', depth=18, stem_channels=8,
                      base_channels=8, out_indices=(0, 1, 2, 3)),
        decode_head=dict(type='MultiTaskHead', in_channels=[8, 16, 32, 64],
                         channels=16, head_channels=8, tasks=tasks,
                         num_classes=3))
    if projection:
        cfg['projection'] = dict(type='TaskProjectionNeck', latent_channels=8)
    if relation:
        cfg['relation'] = dict(type='TaskRelationLearner', input_size=16,
                               patch_size=4, embed_dim=16, depth=1,
                               decoder_depth=1, num_heads=2, mask_ratio=0.5)
    cfg.update(kw)
    return cfg


def make_batch(n=2, h=40, w=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for _ in range(n):
        inputs.append((torch.rand(3, h, w, generator=g) * 255).to(torch.uint8))
        ds = SegDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w)))
        seg = torch.randint(0, 3, (1, h, w), generator=g)
        seg[:, :2] = 255
        normal = torch.nn.functional.normalize(
            torch.randn(3, h, w, generator=g), dim=0)
        ds.set_data(dict(
            gt_sem_seg=PixelData(data=seg),
            gt_depth_map=PixelData(data=torch.rand(1, h, w, generator=g) + .5),
            gt_normal_map=PixelData(data=normal),
            gt_edge_map=PixelData(
                data=(torch.rand(1, h, w, generator=g) > .8).float())))
        samples.append(ds)
    return dict(inputs=inputs, data_samples=samples)


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
                                                 (True, False), (True, True),
                                                 (False, True)])
def test_loss_keys_and_backward(projection, relation):
    model = MODELS.build(small_model_cfg(projection, relation))
    model.init_weights()
    data = model.data_preprocessor(make_batch(), training=True)
    losses = model(**data, mode='loss')
    expected = {f'loss_{t}' for t in TASKS}
    if projection:
        expected |= {f'tp.loss_{t}' for t in TASKS}
    if relation:
        expected |= {f'trl.loss_{t}' for t in TASKS}
    assert set(losses) == expected
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    grads = [p.grad for p in model.backbone.parameters()]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)


def test_image_reconstruction_target():
    model = MODELS.build(small_model_cfg(True, True, trl_target='image'))
    data = model.data_preprocessor(make_batch(), training=True)
    losses = model(**data, mode='loss')
    assert 'trl.loss_image' in losses and 'trl.loss_semseg' not in losses
    out = model.forward_branches(data['inputs'], ('trl', ))
    assert out['trl']['image'].shape == data['inputs'].shape


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
    out = model.forward_branches(x, ('main', 'tp', 'trl'))
    for branch in ('main', 'tp', 'trl'):
        assert set(out[branch]) == set(TASKS)
        assert out[branch]['normal'].shape == (2, 3, 32, 32)
        assert out[branch]['semseg'].shape == (2, 3, 32, 32)
    assert out['trl_mask'].dtype == torch.bool
    assert out['shared'].shape == (2, 16, 8, 8)
    # the same call through forward(mode='branches'), as the hooks do
    out2 = model(x, None, mode='branches', branches=('main', ))
    assert set(out2) >= {'feats', 'shared', 'main'}
    plain = MODELS.build(small_model_cfg(False, False))
    with pytest.raises(ValueError, match='trl'):
        plain.forward_branches(x, ('main', 'trl'))
    with pytest.raises(ValueError, match='unknown'):
        plain.forward_branches(x, ('nope', ))


def test_bad_configs():
    with pytest.raises(ValueError, match='unknown task'):
        MODELS.build(small_model_cfg(False, False, tasks=('semseg', 'sky')))
    with pytest.raises(ValueError, match='loss_weights'):
        MODELS.build(small_model_cfg(loss_weights=dict(foo=1)))
    with pytest.raises(ValueError, match='trl_target'):
        MODELS.build(small_model_cfg(trl_target='text'))
