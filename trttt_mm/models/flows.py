"""A small RealNVP-style normalising flow on 2-D feature maps.

TTTFlow (Osowiechi et al., WACV 2023) models the features of one encoder
stage with a RealNVP flow: affine coupling layers with checkerboard masks and
a convolutional conditioner, ActNorm between them, a standard normal base
distribution. This module holds that flow for ``(B, C, H, W)`` maps of any
size (the masks are built for the input's size, so dense inputs of varying
resolution work).

Why our own: the flow libraries in the registry lists either model vectors
only (zuko) or are no longer released (FrEIA 0.2, 2022; normflows 1.7.3,
2023; nflows 0.14, 2020) and would add a dependency for about 150 lines; the
layers below are tested for invertibility and for the log-determinant
against autograd's Jacobian (``tests/test_models/test_flows.py``).

Every layer is element-wise affine given its conditioner, so the log of the
Jacobian determinant is the sum of an element-wise log-scale map: layers
return that map with the shape of the input, and
:func:`standard_normal_nll` averages ``-(log N(z) + log|det J|)`` over the
dimensions (nats per dimension).
"""
import math
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.dist import all_reduce, get_world_size
from torch import Tensor

MASK_TYPES = ('checkerboard', 'channel')
_LOG_2PI = math.log(2 * math.pi)


def checkerboard_mask(height: int, width: int, parity: int,
                      device=None, dtype=torch.float32) -> Tensor:
    """``(1, 1, H, W)`` mask that is 1 where ``(i + j + parity)`` is odd."""
    i = torch.arange(height, device=device).view(-1, 1)
    j = torch.arange(width, device=device).view(1, -1)
    return ((i + j + parity) % 2).to(dtype).view(1, 1, height, width)


def channel_mask(channels: int, parity: int, device=None,
                 dtype=torch.float32) -> Tensor:
    """``(1, C, 1, 1)`` mask that is 1 on the first ``C // 2`` channels
    (parity 0) or on the others (parity 1)."""
    m = torch.zeros(channels, device=device, dtype=dtype)
    half = channels // 2
    if parity == 0:
        m[:half] = 1
    else:
        m[half:] = 1
    return m.view(1, channels, 1, 1)


class ActNorm2d(nn.Module):
    """Per-channel affine normalisation ``y = x * exp(log_scale) + bias``
    (Glow), initialised from the first training batch to zero mean and unit
    variance per channel (averaged over ranks under DDP). The bias acts after
    the scale (as in the official TTTFlow flow), so its gradient is not
    multiplied by the scale: plain SGD at the official lr 0.1 stays stable.

    The persistent buffer ``initialized`` records the data-dependent
    initialisation, so a loaded checkpoint is not re-initialised.
    """

    def __init__(self, channels: int, eps: float = 1e-6,
                 rel_floor: float = 0.1):
        super().__init__()
        self.rel_floor = float(rel_floor)
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.log_scale = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.register_buffer('initialized', torch.zeros((), dtype=torch.uint8))
        self.eps = float(eps)

    @torch.no_grad()
    def _initialize(self, x: Tensor) -> None:
        dims = (0, 2, 3)
        stats = torch.stack([x.mean(dims), (x * x).mean(dims)])
        if get_world_size() > 1:
            all_reduce(stats, op='mean')
        mean, sq = stats[0], stats[1]
        std = (sq - mean * mean).clamp_min(0).sqrt()
        # A channel that barely varies (e.g. a ReLU channel that is zero on
        # the whole batch) would get a huge scale: floor its std at a
        # fraction of the typical channel's.
        floor = (self.rel_floor * std.median()).clamp_min(self.eps)
        log_scale = -torch.log(std.clamp_min(floor))
        self.log_scale.copy_(log_scale.view_as(self.log_scale))
        self.bias.copy_((-mean * torch.exp(log_scale)).view_as(self.bias))
        self.initialized.fill_(1)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        if self.training and not bool(self.initialized):
            self._initialize(x.detach())
        y = x * torch.exp(self.log_scale) + self.bias
        return y, self.log_scale.expand_as(x)

    def inverse(self, y: Tensor) -> Tensor:
        return (y - self.bias) * torch.exp(-self.log_scale)


class AffineCoupling2d(nn.Module):
    """RealNVP affine coupling on a masked part of a feature map.

    With the binary mask ``m`` (checkerboard over positions, or half of the
    channels): ``y = m*x + (1-m)*(x*exp(s) + t)`` with
    ``(s_raw, t) = net(m*x)``, ``s = scale * tanh(s_raw)`` (bounded, per
    channel learnable ``scale``). The conditioner is conv3x3 - ReLU - conv1x1 -
    ReLU - conv3x3 without normalisation layers (so its output does not
    depend on train/eval mode); its last conv starts at zero, so the coupling
    starts as the identity.

    Args:
        channels: Channels of the feature map.
        hidden_channels: Width of the conditioner.
        mask_type: ``'checkerboard'`` or ``'channel'``.
        parity: 0 or 1 (which half is kept fixed).
    """

    def __init__(self, channels: int, hidden_channels: int,
                 mask_type: str = 'checkerboard', parity: int = 0):
        super().__init__()
        if mask_type not in MASK_TYPES:
            raise ValueError(f'AffineCoupling2d.mask_type must be one of '
                             f'{MASK_TYPES}, got {mask_type!r}')
        if parity not in (0, 1):
            raise ValueError(f'AffineCoupling2d.parity must be 0 or 1, got '
                             f'{parity!r}')
        if mask_type == 'channel' and channels < 2:
            raise ValueError('AffineCoupling2d: a channel mask needs at least '
                             f'2 channels, got {channels}')
        self.channels = int(channels)
        self.mask_type = mask_type
        self.parity = int(parity)
        self.net = nn.Sequential(
            nn.Conv2d(channels, hidden_channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden_channels, hidden_channels, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden_channels, 2 * channels, 3, padding=1))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)
        self.scale = nn.Parameter(torch.ones(1, channels, 1, 1))

    def mask(self, x: Tensor) -> Tensor:
        if self.mask_type == 'checkerboard':
            return checkerboard_mask(x.shape[2], x.shape[3], self.parity,
                                     x.device, x.dtype)
        return channel_mask(self.channels, self.parity, x.device, x.dtype)

    def _params(self, x_fixed: Tensor, m: Tensor) -> Tuple[Tensor, Tensor]:
        s_raw, t = self.net(x_fixed).chunk(2, dim=1)
        s = self.scale * torch.tanh(s_raw) * (1 - m)
        return s, t * (1 - m)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        m = self.mask(x)
        s, t = self._params(x * m, m)
        return x * torch.exp(s) + t, s

    def inverse(self, y: Tensor) -> Tensor:
        m = self.mask(y)
        s, t = self._params(y * m, m)
        return (y - t) * torch.exp(-s)


class CouplingFlow2d(nn.Module):
    """RealNVP flow: couplings with alternating parity, each after an
    :class:`ActNorm2d` (the TTTFlow layout is three checkerboard couplings,
    parities 1, 0, 1, with ActNorm between them; ours also normalises the
    input before the first coupling, whose conditioner would otherwise see
    the raw feature scale: measured, SGD diverged within a few steps on
    raw ResNet features).

    Args:
        channels: Channels of the modelled feature map.
        hidden_channels: Width of each coupling's conditioner.
        num_couplings: Number of coupling layers (>= 1).
        mask_types: One mask type for all couplings, or one per coupling.
        actnorm: Put an :class:`ActNorm2d` before every coupling.
    """

    def __init__(self, channels: int, hidden_channels: int,
                 num_couplings: int = 3,
                 mask_types: Sequence[str] = 'checkerboard',
                 actnorm: bool = True):
        super().__init__()
        if int(num_couplings) < 1:
            raise ValueError(f'CouplingFlow2d.num_couplings must be >= 1, '
                             f'got {num_couplings!r}')
        if int(channels) < 1 or int(hidden_channels) < 1:
            raise ValueError(f'CouplingFlow2d: channels and hidden_channels '
                             f'must be >= 1, got {channels!r}, '
                             f'{hidden_channels!r}')
        n = int(num_couplings)
        if isinstance(mask_types, str):
            mask_types = [mask_types] * n
        mask_types = list(mask_types)
        if len(mask_types) != n:
            raise ValueError(f'CouplingFlow2d.mask_types: {len(mask_types)} '
                             f'types for {n} couplings')
        layers = []
        for k, kind in enumerate(mask_types):
            if actnorm:
                layers.append(ActNorm2d(channels))
            layers.append(AffineCoupling2d(channels, hidden_channels, kind,
                                           parity=(k + 1) % 2))
        self.layers = nn.ModuleList(layers)
        self.channels = int(channels)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """``x -> (z, log_det)``; ``log_det`` is element-wise (shape of
        ``x``): its sum over a sample's elements is log|det dz/dx|."""
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f'CouplingFlow2d: expected (B, {self.channels}, '
                             f'H, W), got {tuple(x.shape)}')
        log_det = torch.zeros_like(x)
        for layer in self.layers:
            x, ld = layer(x)
            log_det = log_det + ld
        return x, log_det

    def inverse(self, z: Tensor) -> Tensor:
        """``z -> x`` (the exact inverse of :meth:`forward`)."""
        for layer in reversed(self.layers):
            z = layer.inverse(z)
        return z


def standard_normal_nll(z: Tensor, log_det: Tensor,
                        valid: Optional[Tensor] = None) -> Tensor:
    """Negative log-likelihood under a standard normal base, in nats per
    dimension: ``-mean(log N(z) + log_det)`` over all elements, or over the
    positions where the ``(B, 1, H, W)`` bool ``valid`` is true."""
    ll = -0.5 * z * z - 0.5 * _LOG_2PI + log_det
    if valid is None:
        return -ll.mean()
    w = valid.to(ll.dtype).expand_as(ll)
    return -(ll * w).sum() / w.sum().clamp_min(1)
