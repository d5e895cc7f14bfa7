"""The RealNVP-style flow of TTTFlow: invertibility, the log-determinant
against autograd's Jacobian, the NLL and the head around it."""
import math

import pytest
import torch

from trttt_mm.models.aux_heads import FlowHead
from trttt_mm.models.flows import (ActNorm2d, AffineCoupling2d,
                                   CouplingFlow2d, checkerboard_mask,
                                   standard_normal_nll)


def _randomise(flow, seed=0, scale=0.3):
    """Non-trivial weights (the last conditioner conv starts at zero)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in flow.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale)
    return flow


def _flow(mask_types='checkerboard', c=3, dtype=torch.float64):
    flow = CouplingFlow2d(c, 5, num_couplings=3, mask_types=mask_types)
    flow = _randomise(flow.to(dtype))
    for m in flow.modules():
        if isinstance(m, ActNorm2d):
            m.initialized.fill_(1)  # keep the random bias/scale
    return flow.eval()


@pytest.mark.parametrize('mask_types', [
    'checkerboard', 'channel', ('checkerboard', 'channel', 'checkerboard')
])
def test_x_to_z_to_x_is_the_identity(mask_types):
    flow = _flow(mask_types, c=4, dtype=torch.float32)
    x = torch.randn(2, 4, 7, 9, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        z, _ = flow(x)
        back = flow.inverse(z)
    assert not torch.allclose(z, x, atol=1e-3)  # it does transform
    assert (back - x).abs().max() < 1e-5


@pytest.mark.parametrize('mask_types', ['checkerboard', 'channel'])
def test_log_det_matches_autograd_jacobian(mask_types):
    flow = _flow(mask_types, c=2)
    shape = (1, 2, 3, 3)
    x = torch.randn(shape, dtype=torch.float64,
                    generator=torch.Generator().manual_seed(2))

    def f(v):
        return flow(v.view(shape))[0].reshape(-1)

    jac = torch.autograd.functional.jacobian(f, x.reshape(-1))
    sign, logabs = torch.linalg.slogdet(jac)
    _, log_det = flow(x)
    assert sign != 0
    assert log_det.sum().item() == pytest.approx(logabs.item(), abs=1e-9)


def test_coupling_keeps_the_masked_half_and_starts_as_identity():
    c = AffineCoupling2d(3, 4, 'checkerboard', parity=0)
    x = torch.randn(2, 3, 4, 5)
    y, s = c(x)
    assert torch.equal(y, x) and torch.equal(s, torch.zeros_like(s))
    _randomise(c)
    y, _ = c(x)
    m = checkerboard_mask(4, 5, 0).bool().expand_as(x)
    assert torch.equal(y[m], x[m]) and not torch.allclose(y[~m], x[~m])


def test_scales_are_bounded_by_tanh():
    c = AffineCoupling2d(2, 4, 'channel', parity=1)
    with torch.no_grad():
        c.net[-1].bias.fill_(1e4)
    _, s = c(torch.randn(1, 2, 3, 3))
    assert s.abs().max() <= 1.0 + 1e-6  # |scale * tanh| with scale = 1


def test_actnorm_initialises_from_the_first_training_batch():
    a = ActNorm2d(3)
    x = torch.randn(4, 3, 5, 5) * torch.tensor([1., 3., .5]).view(1, 3, 1, 1) \
        + torch.tensor([2., -1., 0.]).view(1, 3, 1, 1)
    y, ld = a(x)
    assert bool(a.initialized)
    assert y.mean(dim=(0, 2, 3)).abs().max() < 1e-5
    assert (y.std(dim=(0, 2, 3), unbiased=False) - 1).abs().max() < 1e-3
    assert ld.shape == x.shape
    assert torch.allclose(a.inverse(y), x, atol=1e-5)
    before = a.bias.detach().clone()
    a(x * 10)  # no second initialisation
    assert torch.equal(a.bias, before)
    # the flag is part of the state dict (a loaded flow is not re-initialised)
    assert 'initialized' in a.state_dict()


def test_actnorm_floors_the_scale_of_dead_channels():
    a = ActNorm2d(4)
    x = torch.randn(2, 4, 5, 5)
    x[:, 1] = 0.0  # a ReLU channel that is zero on the whole batch
    a(x)
    std = x.std(dim=(0, 2, 3), unbiased=False)
    floor = 0.1 * std.median()
    assert a.log_scale[0, 1, 0, 0].item() == pytest.approx(
        -torch.log(floor).item(), rel=1e-5)


def test_nll_is_nats_per_dimension_and_masks_positions():
    z = torch.zeros(2, 3, 4, 4)
    ld = torch.zeros_like(z)
    assert standard_normal_nll(z, ld).item() == pytest.approx(
        0.5 * math.log(2 * math.pi))
    z[1] = 100.0  # the second sample is masked out below
    valid = torch.zeros(2, 1, 4, 4, dtype=torch.bool)
    valid[0] = True
    assert standard_normal_nll(z, ld, valid).item() == pytest.approx(
        0.5 * math.log(2 * math.pi))


def test_bad_flow_arguments_are_named():
    with pytest.raises(ValueError, match='mask_type'):
        AffineCoupling2d(2, 4, 'stripes')
    with pytest.raises(ValueError, match='channel mask'):
        AffineCoupling2d(1, 4, 'channel')
    with pytest.raises(ValueError, match='num_couplings'):
        CouplingFlow2d(2, 4, num_couplings=0)
    with pytest.raises(ValueError, match='mask_types'):
        CouplingFlow2d(2, 4, num_couplings=3, mask_types=['channel'])
    with pytest.raises(ValueError, match=r'\(B, 2, H, W\)'):
        CouplingFlow2d(2, 4)(torch.zeros(1, 3, 2, 2))


def test_flow_head_detaches_only_in_train_mode():
    head = FlowHead(in_channels=4, hidden_channels=6, in_index=1)
    _randomise(head.flow)
    x = torch.randn(2, 4, 5, 6, requires_grad=True)
    head.train()
    head.loss(head(x), {}, None, None)['loss_nll'].backward()
    assert x.grad is None  # source training: the NLL stays in the flow
    assert head.flow.layers[1].scale.grad is not None
    head.eval()
    head.ttt_loss(head(x))['loss_nll'].backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match='FlowHead'):
        head(torch.zeros(1, 3, 4, 4))
