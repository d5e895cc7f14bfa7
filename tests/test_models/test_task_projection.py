import pytest
import torch

from trttt_mm.models.necks import TaskProjectionNeck

OUT = {'semseg': 7, 'depth': 1, 'normal': 3, 'edge': 1}


def test_shapes_and_order():
    neck = TaskProjectionNeck(16, OUT, latent_channels=8)
    assert neck.tasks == ('semseg', 'depth', 'normal', 'edge')
    out = neck(torch.randn(2, 16, 5, 6))
    assert out['latents'].shape == (2, 4, 8, 5, 6)
    assert list(out['tp']) == list(OUT)
    for task, c in OUT.items():
        assert out['tp'][task].shape == (2, c, 5, 6)


def test_latents_are_a_1x1_projection_and_tp_reads_its_own_latent():
    torch.manual_seed(0)
    neck = TaskProjectionNeck(6, {'depth': 1, 'edge': 1}, latent_channels=4,
                              tp_kernel_size=3)
    z = torch.randn(1, 6, 4, 4)
    out = neck(z)
    # 1x1 conv: one pixel of z changes only that pixel of the latents
    z2 = z.clone()
    z2[..., 1, 2] += 1.0
    diff = (neck(z2)['latents'] - out['latents']).abs().sum(dim=(1, 2))
    assert diff[0, 1, 2] > 0
    diff[0, 1, 2] = 0
    assert diff.max() == 0
    # y_depth^TP depends only on the depth latent
    lat = out['latents'].detach().requires_grad_(True)
    neck.tp_heads['depth'](lat[:, 0]).sum().backward()
    assert lat.grad[:, 0].abs().sum() > 0
    assert lat.grad[:, 1].abs().sum() == 0


def test_gradients_and_registry():
    from mmseg.registry import MODELS
    neck = MODELS.build(
        dict(type='TaskProjectionNeck', in_channels=8, out_channels=OUT,
             latent_channels=4))
    assert isinstance(neck, TaskProjectionNeck)
    z = torch.randn(2, 8, 3, 3, requires_grad=True)
    out = neck(z)
    loss = out['latents'].sum() + sum(v.sum() for v in out['tp'].values())
    loss.backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


def test_list_input_is_resized_and_concatenated():
    neck = TaskProjectionNeck(3 + 5, {'depth': 1}, latent_channels=2)
    out = neck([torch.randn(1, 3, 8, 8), torch.randn(1, 5, 4, 4)])
    assert out['latents'].shape == (1, 1, 2, 8, 8)


def test_errors():
    with pytest.raises(ValueError):
        TaskProjectionNeck(8, {})
    with pytest.raises(ValueError):
        TaskProjectionNeck(8, {'depth': 0})
    with pytest.raises(ValueError):
        TaskProjectionNeck(8, {'depth': 1}, tp_kernel_size=2)
    neck = TaskProjectionNeck(8, {'depth': 1}, latent_channels=2)
    with pytest.raises(ValueError, match=r'\(B, 8, h, w\)'):
        neck(torch.randn(1, 7, 4, 4))
