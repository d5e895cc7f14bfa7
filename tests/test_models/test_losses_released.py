"""Uncertainty weighting (Kendall et al. 2018, the released code's
AutomaticWeightedLoss form) and the continuous-edge L1 of a Taskonomy
source."""
import math

import numpy as np
import pytest
import torch

from mmseg.registry import MODELS
from trttt_mm.models.losses import (RELEASED_EDGE_TARGET, ContinuousEdgeL1Loss,
                                    UncertaintyWeighting, gaussian_blur,
                                    task_of_loss_key)

TASKS = ('semseg', 'depth', 'normal', 'edge')


def test_task_of_loss_key():
    assert task_of_loss_key('loss_depth', TASKS) == 'depth'
    assert task_of_loss_key('relation.tp.loss_semseg', TASKS) == 'semseg'
    assert task_of_loss_key('relation.trl.loss_image', TASKS) is None
    assert task_of_loss_key('rot.loss_rotation', TASKS) is None
    assert task_of_loss_key('loss_edge', ('depth', )) is None


def test_weighting_formula_groups_main_tp_trl():
    w = UncertaintyWeighting(tasks=('semseg', 'depth'))
    with torch.no_grad():
        w.params.copy_(torch.tensor([2.0, 0.5]))
    losses = {
        'loss_semseg': torch.tensor(1.0), 'loss_depth': torch.tensor(2.0),
        'relation.tp.loss_semseg': torch.tensor(3.0),
        'relation.tp.loss_depth': torch.tensor(4.0),
        'relation.trl.loss_semseg': torch.tensor(5.0),
        'relation.trl.loss_depth': torch.tensor(6.0),
    }
    out = w(losses)
    assert list(out) == ['loss_semseg', 'loss_depth']
    assert out['loss_semseg'].item() == pytest.approx(
        0.5 / 4 * 9 + math.log(1 + 4))
    assert out['loss_depth'].item() == pytest.approx(
        0.5 / 0.25 * 12 + math.log(1 + 0.25))
    # the regulariser alone is scaled
    scaled = w(losses, regularizer_scale=100.0)
    assert scaled['loss_depth'].item() == pytest.approx(
        0.5 / 0.25 * 12 + 100 * math.log(1 + 0.25))


def test_weighting_gradients_init_and_unmatched():
    w = MODELS.build(dict(type='UncertaintyWeighting', tasks=TASKS))
    assert torch.equal(w.params.data, torch.ones(4))
    losses = {'loss_depth': torch.tensor(2.0, requires_grad=True),
              'trl.loss_image': torch.tensor(0.5)}
    out = w(losses)
    assert list(out) == ['loss_depth', 'trl.loss_image']
    assert out['trl.loss_image'] is losses['trl.loss_image']
    sum(out.values()).backward()
    # d/dσ [0.5 σ^-2 L + log(1 + σ²)] at σ=1, L=2: -2 + 1 = -1
    assert w.params.grad.tolist() == pytest.approx([0, -1.0, 0, 0])
    assert set(w.log_vars()) == {f'uncertainty.{t}' for t in TASKS}
    strict = UncertaintyWeighting(tasks=TASKS, unmatched='error')
    with pytest.raises(ValueError, match='loss_image'):
        strict(losses)
    with pytest.raises(ValueError, match='tasks'):
        UncertaintyWeighting()
    with pytest.raises(ValueError, match='init_value'):
        UncertaintyWeighting(tasks=TASKS, init_value=0)
    with pytest.raises(ValueError, match='unknown task'):
        UncertaintyWeighting(tasks=('depth', 'curvature'))


def test_segmentor_weighting_is_a_model_part_and_off_path_unchanged():
    from model_helpers import make_batch, small_model_cfg
    torch.manual_seed(0)
    plain = MODELS.build(small_model_cfg())
    torch.manual_seed(0)
    weighted = MODELS.build(
        small_model_cfg(loss_weighting=dict(type='UncertaintyWeighting')))
    assert plain.loss_weighting is None
    assert weighted.loss_weighting.tasks == weighted.tasks
    assert 'loss_weighting.params' in weighted.state_dict()
    assert any(p is weighted.loss_weighting.params
               for p in weighted.parameters())
    batch = make_batch(n=2, h=32, w=32)
    plain.train()
    weighted.train()
    data = plain.data_preprocessor(batch, training=True)
    torch.manual_seed(3)
    raw = plain(**data, mode='loss')
    torch.manual_seed(3)
    out = weighted(**data, mode='loss')
    # off: the keys of the existing path, in order
    assert list(raw) == [
        'loss_semseg', 'loss_depth', 'loss_normal', 'loss_edge',
        'relation.tp.loss_semseg', 'relation.tp.loss_depth',
        'relation.tp.loss_normal', 'relation.tp.loss_edge',
        'relation.trl.loss_semseg', 'relation.trl.loss_depth',
        'relation.trl.loss_normal', 'relation.trl.loss_edge']
    summed = [k for k in out if 'loss' in k]
    assert summed == ['loss_semseg', 'loss_depth', 'loss_normal',
                      'loss_edge']
    for t in weighted.tasks:
        total = sum(v for k, v in raw.items() if k.endswith(f'loss_{t}'))
        assert out[f'loss_{t}'].item() == pytest.approx(
            0.5 * total.item() + math.log(2), rel=1e-5)
        assert f'uncertainty.{t}' in out
    assert torch.equal(out['raw.relation.tp.semseg'],
                       raw['relation.tp.loss_semseg'].detach())
    sum(out[k] for k in summed).backward()
    assert weighted.loss_weighting.params.grad is not None


def test_gaussian_blur_matches_scipy_reflect():
    from scipy.ndimage import gaussian_filter
    rng = np.random.default_rng(0)
    for shape, sigma in (((20, 23), 4.0), ((9, 7), 4.0), ((16, 16), 1.3)):
        img = rng.random(shape).astype(np.float64)
        ours = gaussian_blur(torch.from_numpy(img)[None, None], sigma)
        ref = gaussian_filter(img, sigma=sigma, mode='reflect')
        assert np.allclose(ours[0, 0].numpy(), ref, atol=1e-10), shape


def test_gaussian_blur_ignores_invalid_pixels():
    x = torch.ones(1, 1, 10, 10)
    valid = torch.ones(1, 1, 10, 10, dtype=torch.bool)
    x[..., 7:] = 255.0  # padding with the ignore value
    valid[..., 7:] = False
    out = gaussian_blur(x, 2.0, valid=valid)
    assert torch.allclose(out[..., :7], torch.ones(1, 1, 10, 7))


def test_continuous_edge_l1_plain_and_released_target():
    pred = torch.zeros(1, 1, 2, 2)
    gt = torch.tensor([[[[0.25, 0.5], [255.0, float('nan')]]]])
    loss = ContinuousEdgeL1Loss()(pred, gt)
    assert loss.item() == pytest.approx(0.375)  # two valid pixels
    assert ContinuousEdgeL1Loss(loss_weight=2.0)(pred, gt).item() == \
        pytest.approx(0.75)
    # released: v/65535 strength -> v / 409.6 * 2 - 1, then blur sigma 4
    from scipy.ndimage import gaussian_filter
    rng = np.random.default_rng(1)
    raw16 = rng.integers(0, 800, size=(24, 24)).astype(np.float64)
    strength = torch.from_numpy(raw16 / 65535.0)[None, None]
    released = ContinuousEdgeL1Loss(**RELEASED_EDGE_TARGET)
    mask = torch.ones_like(strength, dtype=torch.bool)
    target = released.transform_target(strength, mask)
    ref = gaussian_filter(raw16 / 409.6 * 2 - 1, sigma=4, mode='reflect')
    assert np.allclose(target[0, 0].numpy(), ref, atol=1e-9)
    pred = torch.zeros_like(strength, requires_grad=True)
    value = released(pred, strength)
    assert value.item() == pytest.approx(np.abs(ref).mean(), rel=1e-9)
    value.backward()
    assert pred.grad.abs().sum() > 0
    with pytest.raises(ValueError, match='blur_sigma'):
        ContinuousEdgeL1Loss(blur_sigma=-1)
    with pytest.raises(ValueError, match='target_scale'):
        ContinuousEdgeL1Loss(target_scale=float('inf'))


def test_taskonomy_continuous_edges_feed_the_loss(tmp_path):
    """``edge_threshold=None`` keeps the 16-bit strength ``v / 65535``."""
    from fixtures_taskonomy import LOAD, Dataset, make_taskonomy
    root = make_taskonomy(tmp_path / 'taskonomy')
    ds = Dataset(root, split=['ab'], tasks=('edge', ), edge_threshold=None,
                 pipeline=LOAD)
    edge = ds[0]['gt_edge_map']
    assert edge.dtype == np.float32
    np.testing.assert_allclose(edge[2, :3], [1000 / 65535, 5000 / 65535, 1])
    assert edge.sum() == pytest.approx((1000 + 5000 + 65535) / 65535)
    target = torch.from_numpy(edge)[None, None]
    loss = ContinuousEdgeL1Loss()(torch.zeros_like(target), target)
    assert loss.item() == pytest.approx(edge.mean(), rel=1e-6)
