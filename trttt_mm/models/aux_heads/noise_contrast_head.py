"""NC-TTT's auxiliary head: a projector and a noise discriminator."""
import math
from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmseg.registry import MODELS

from .base import BaseAuxHead


def soft_noise_target(noise_sq: Tensor, dim: int, sigma_high: float,
                      sigma_low: float) -> Tensor:
    """Posterior probability that a noise vector of squared norm
    ``noise_sq`` in ``dim`` dimensions came from N(0, sigma_high²) rather
    than N(0, sigma_low²) (equal priors): NC-TTT's soft target
    ``sigmoid(0.5 ((1/σ_low)² − (1/σ_high)²) ‖N‖²
    − D log(σ_high/σ_low))``, with values below 1e-6 set to 0 as the
    official code does."""
    z = 0.5 * ((1.0 / sigma_low)**2 - (1.0 / sigma_high)**2) * noise_sq \
        - dim * math.log(sigma_high / sigma_low)
    y = torch.sigmoid(z)
    return torch.where(y < 1e-6, torch.zeros_like(y), y)


@MODELS.register_module()
class NoiseContrastHead(BaseAuxHead):
    """Projector + noise discriminator on one backbone level (NC-TTT,
    Osowiechi et al., CVPR 2024).

    A 1x1 conv projects the level's features to ``embed_channels``; a small
    discriminator (1x1 conv to ``hidden_channels``, BatchNorm,
    LeakyReLU(0.2), 1x1 conv to one logit, no bias: the official
    Linear-BN1d-LeakyReLU-Linear applied per position) scores each position.

    Source loss: two noisy copies of the projected features, ``f + N1`` with
    ``N1 ~ N(0, sigma_high²)`` and ``f + N2`` with ``N2 ~ N(0, sigma_low²)``;
    BCE between the discriminator's probability and the soft target
    :func:`soft_noise_target` of each copy's noise (``D`` = the projected
    channels, per position), weighted by ``loss_weight`` and reaching the
    encoder. Test-time objective (official): BCE(sigmoid(−disc(f)), 1) on the
    clean projected target features = ``softplus(disc(f))``, i.e. push them
    to the low-noise side.

    Dense version (ours): the official discriminator reads the whole
    flattened 16x16 map of a CIFAR image (a fixed input size); here it scores
    every position, so any resolution works, and ``D`` is the per-position
    dimension.

    Outputs of :meth:`forward`: ``features`` (projected, ``(B, E, h, w)``).

    Args:
        in_index: Backbone level (official CIFAR: layer2, level 1).
        in_channels: Channels of the level (default: from the context).
        embed_channels: Projected channels E (official: 1536).
        hidden_channels: Discriminator width (official: 4).
        sigma_high: Std of the "far" noise (official ``--std`` 0.1).
        sigma_low: Std of the "near" noise (official ``--std2`` 0.015).
        loss_weight: Weight of the source loss (official: 1).
    """

    def __init__(self,
                 in_index: int = 1,
                 in_channels: Optional[int] = None,
                 embed_channels: int = 1536,
                 hidden_channels: int = 4,
                 sigma_high: float = 0.1,
                 sigma_low: float = 0.015,
                 loss_weight: float = 1.0,
                 context: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(source='backbone', in_index=in_index,
                         loss_weight=loss_weight, context=context,
                         init_cfg=init_cfg)
        if not (float(sigma_high) > float(sigma_low) > 0):
            raise ValueError('NoiseContrastHead: need sigma_high > sigma_low '
                             f'> 0, got sigma_high={sigma_high!r}, '
                             f'sigma_low={sigma_low!r}')
        for name, v in (('embed_channels', embed_channels),
                        ('hidden_channels', hidden_channels)):
            if int(v) < 1:
                raise ValueError(f'NoiseContrastHead.{name} must be >= 1, '
                                 f'got {v!r}')
        c = int(in_channels) if in_channels is not None \
            else self.in_channels_from_context()
        self.in_channels = c
        self.embed_channels = int(embed_channels)
        self.sigma_high = float(sigma_high)
        self.sigma_low = float(sigma_low)
        self.projector = nn.Conv2d(c, self.embed_channels, 1)
        self.discriminator = nn.Sequential(
            nn.Conv2d(self.embed_channels, int(hidden_channels), 1),
            nn.BatchNorm2d(int(hidden_channels)),
            nn.LeakyReLU(0.2),
            nn.Conv2d(int(hidden_channels), 1, 1, bias=False))
        for m in self.modules():  # the official init
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_normal_(m.weight)

    def forward(self, x: Tensor, views: Optional[dict] = None,
                **kwargs) -> Dict[str, Tensor]:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'NoiseContrastHead: expected (B, '
                             f'{self.in_channels}, H, W) features of level '
                             f'{self.in_index}, got {tuple(x.shape)}')
        return dict(features=self.projector(x))

    def score(self, features: Tensor) -> Tensor:
        """Discriminator logits ``(B, 1, h, w)`` (high: noisy)."""
        return self.discriminator(features)

    def loss(self, outputs: Dict[str, Tensor], gts, model,
             inputs: Tensor) -> Dict[str, Tensor]:
        if self.loss_weight == 0:
            return {}
        f = outputs['features']
        n1 = torch.randn_like(f) * self.sigma_high
        n2 = torch.randn_like(f) * self.sigma_low
        noise = torch.cat([n1, n2], dim=0)
        target = soft_noise_target((noise * noise).sum(1, keepdim=True),
                                   self.embed_channels, self.sigma_high,
                                   self.sigma_low)
        logits = self.score(torch.cat([f, f], dim=0) + noise)
        loss = F.binary_cross_entropy_with_logits(logits, target)
        return dict(loss_nc=self.loss_weight * loss)

    def ttt_loss(self, outputs: Dict[str, Tensor],
                 valid: Optional[Tensor] = None,
                 **kwargs) -> Dict[str, Tensor]:
        """NC-TTT's test-time objective: ``BCE(sigmoid(-disc(f)), 1)`` =
        ``softplus(disc(f))``, averaged over the (valid) positions."""
        s = F.softplus(self.score(outputs['features']))
        if valid is None:
            return dict(loss_nc=s.mean())
        w = valid.to(s.dtype)
        return dict(loss_nc=(s * w).sum() / w.sum().clamp_min(1))
