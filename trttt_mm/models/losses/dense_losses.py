"""Per-task losses for dense regression tasks.

Semantic segmentation uses mmseg's ``CrossEntropyLoss``. The losses here follow
the multi-task literature (reference weights: depth 1, normal 10, edge 50) and
always mask invalid pixels explicitly: a padded or unlabelled pixel never
contributes, whatever value it carries.
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmseg.registry import MODELS

from trttt_mm.tasks import normalize_channels


def _masked_mean(values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over ``valid`` pixels (0 with gradient when none)."""
    valid = valid.to(values.dtype)
    count = valid.sum()
    total = (values * valid).sum()
    return total / count.clamp(min=1.0)


@MODELS.register_module()
class DepthL1Loss(nn.Module):
    """L1 loss on valid depth pixels (ground truth finite and > 0).

    Args:
        loss_weight: Multiplier of the loss.
        loss_name: Key under which the loss is logged.
    """

    def __init__(self, loss_weight: float = 1.0, loss_name: str = 'loss_depth'):
        super().__init__()
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                valid: Optional[torch.Tensor] = None) -> torch.Tensor:
        """pred, target: (B, 1, H, W); valid: optional extra bool mask."""
        mask = torch.isfinite(target) & (target > 0)
        if valid is not None:
            mask = mask & valid
        target = torch.where(mask, target, torch.zeros_like(target))
        return self.loss_weight * _masked_mean((pred - target).abs(), mask)

    @property
    def loss_name(self) -> str:
        return self._loss_name


@MODELS.register_module()
class NormalL1Loss(nn.Module):
    """L1 loss between L2-normalised predicted normals and ground truth.

    Pixels whose ground-truth vector is all zero are invalid.
    """

    def __init__(self, loss_weight: float = 10.0,
                 loss_name: str = 'loss_normal'):
        super().__init__()
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                valid: Optional[torch.Tensor] = None) -> torch.Tensor:
        """pred, target: (B, 3, H, W)."""
        pred = normalize_channels(pred)
        mask = (target.abs().sum(dim=1, keepdim=True) > 0) & torch.isfinite(
            target).all(dim=1, keepdim=True)
        if valid is not None:
            mask = mask & valid
        target = torch.where(mask, target, torch.zeros_like(target))
        err = (pred - target).abs().mean(dim=1, keepdim=True)
        return self.loss_weight * _masked_mean(err, mask)

    @property
    def loss_name(self) -> str:
        return self._loss_name


@MODELS.register_module()
class BalancedBCELoss(nn.Module):
    """Class-balanced binary cross-entropy for edge maps (on logits).

    Args:
        pos_weight: Weight of edge pixels; non-edge pixels get
            ``1 - pos_weight``. ``None`` computes it per batch as the fraction
            of non-edge pixels (the classic HED balancing).
        ignore_index: Ground-truth value marking ignored pixels.
        loss_weight: Multiplier of the loss.
    """

    def __init__(self, pos_weight: Optional[float] = 0.95,
                 ignore_index: int = 255, loss_weight: float = 50.0,
                 loss_name: str = 'loss_edge'):
        super().__init__()
        if pos_weight is not None and not 0.0 < pos_weight < 1.0:
            raise ValueError(f'pos_weight must be in (0, 1), got {pos_weight}')
        self.pos_weight = pos_weight
        self.ignore_index = ignore_index
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                valid: Optional[torch.Tensor] = None) -> torch.Tensor:
        """pred: logits (B, 1, H, W); target: {0, 1} with ignore_index."""
        mask = (target != self.ignore_index) & torch.isfinite(target)
        if valid is not None:
            mask = mask & valid
        y = torch.where(mask, target, torch.zeros_like(target)).clamp(0, 1)
        if self.pos_weight is None:
            n_valid = mask.sum().clamp(min=1)
            w_pos = 1.0 - (y * mask).sum() / n_valid
        else:
            w_pos = torch.tensor(self.pos_weight, device=pred.device)
        weight = torch.where(y > 0.5, w_pos, 1.0 - w_pos)
        bce = F.binary_cross_entropy_with_logits(
            pred, y, weight=weight, reduction='none')
        return self.loss_weight * _masked_mean(bce, mask)

    @property
    def loss_name(self) -> str:
        return self._loss_name


def _symmetric_pad(x: torch.Tensor, pad: int, dim: int) -> torch.Tensor:
    """Pad ``x`` by ``pad`` on both sides of ``dim``, mirroring the edge
    pixel too (``d c b a | a b c d | d c b a``; scipy's ``'reflect'``)."""
    n = x.shape[dim]
    parts = []
    left = pad
    while left > 0:  # a pad wider than the image repeats the reflection
        k = min(left, n)
        parts.insert(0, x.narrow(dim, 0, k).flip(dim)
                     if len(parts) % 2 == 0 else x.narrow(dim, n - k, k))
        left -= k
    right_parts = []
    right = pad
    while right > 0:
        k = min(right, n)
        right_parts.append(
            x.narrow(dim, n - k, k).flip(dim)
            if len(right_parts) % 2 == 0 else x.narrow(dim, 0, k))
        right -= k
    return torch.cat(parts + [x] + right_parts, dim=dim)


def gaussian_blur(x: torch.Tensor, sigma: float,
                  valid: Optional[torch.Tensor] = None,
                  truncate: float = 4.0) -> torch.Tensor:
    """Separable Gaussian blur of ``(B, C, H, W)`` maps, borders mirrored
    (scipy ``gaussian_filter`` with ``mode='reflect'``, ``truncate=4``).

    With ``valid`` (bool, broadcastable to ``x``) only valid pixels are
    averaged (normalised convolution): invalid ones neither spread into the
    result nor are read; where the window holds no valid pixel the result is
    0. When every pixel is valid this is the plain blur.
    """
    radius = int(truncate * sigma + 0.5)
    if radius < 1:
        return x
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (t / sigma)**2)
    kernel = (kernel / kernel.sum()).to(x.dtype).to(x.device)

    def blur(v):
        B, C, H, W = v.shape
        v = v.reshape(B * C, 1, H, W)
        v = _symmetric_pad(v, radius, 2)
        v = F.conv2d(v, kernel.view(1, 1, -1, 1))
        v = _symmetric_pad(v, radius, 3)
        v = F.conv2d(v, kernel.view(1, 1, 1, -1))
        return v.reshape(B, C, H, W)

    if valid is None:
        return blur(x)
    m = valid.to(x.dtype).expand_as(x)
    num = blur(torch.where(m > 0, x, torch.zeros_like(x)))
    den = blur(m)
    return torch.where(den > 1e-6, num / den.clamp_min(1e-6),
                       torch.zeros_like(num))


@MODELS.register_module()
class ContinuousEdgeL1Loss(nn.Module):
    """L1 regression of the raw edge output onto a continuous edge map.

    The released TR-TTT code trains a Taskonomy source on continuous
    occlusion-edge maps with a plain L1 (S4T ``losses/loss_schemes.py``,
    ``compute_task_loss``): the 16-bit edge strength ``v`` is rescaled with
    ``v / 409.6 · 2 − 1`` (full scale 0.00625 · 2¹⁶, no clipping) and
    blurred with a Gaussian of σ = 4 pixels (``data/dataset_taskonomy.py``).
    Load such targets with ``TaskonomyMultiTaskDataset(edge_threshold=None)``
    (edge strength ``v / 65535`` in [0, 1]); ``target_scale``,
    ``target_shift`` and ``blur_sigma`` then apply the released transform
    inside the loss: ``target ← blur(scale · target + shift)``. The output
    is not passed through a sigmoid.

    Pixels whose target is ``ignore_index`` (padding) or not finite are left
    out of the mean and of the blur.

    Args:
        loss_weight: Multiplier of the loss.
        target_scale: Multiplier of the target before the blur (the
            released transform of a ``[0, 1]`` target:
            ``2 · 65535 / 409.6``, see :data:`RELEASED_EDGE_TARGET`).
        target_shift: Added to the scaled target (released: ``-1``).
        blur_sigma: Gaussian σ in pixels (0: no blur; released: 4).
        ignore_index: Target value of ignored pixels.
        loss_name: Key under which the loss is logged.
    """

    def __init__(self, loss_weight: float = 1.0, target_scale: float = 1.0,
                 target_shift: float = 0.0, blur_sigma: float = 0.0,
                 ignore_index: int = 255, loss_name: str = 'loss_edge'):
        super().__init__()
        for name, value in (('target_scale', target_scale),
                            ('target_shift', target_shift),
                            ('blur_sigma', blur_sigma)):
            if isinstance(value, bool) or not isinstance(
                    value, (int, float)) or not torch.isfinite(
                        torch.tensor(float(value))):
                raise ValueError(f'ContinuousEdgeL1Loss.{name} must be a '
                                 f'finite number, got {value!r}')
        if blur_sigma < 0:
            raise ValueError('ContinuousEdgeL1Loss.blur_sigma must be >= 0, '
                             f'got {blur_sigma}')
        self.loss_weight = loss_weight
        self.target_scale = float(target_scale)
        self.target_shift = float(target_shift)
        self.blur_sigma = float(blur_sigma)
        self.ignore_index = ignore_index
        self._loss_name = loss_name

    def transform_target(self, target: torch.Tensor,
                         mask: torch.Tensor) -> torch.Tensor:
        """The regression target: ``blur(scale · target + shift)`` on the
        valid pixels ``mask``."""
        y = torch.where(mask, target, torch.zeros_like(target))
        y = y * self.target_scale + self.target_shift
        if self.blur_sigma > 0:
            y = gaussian_blur(y, self.blur_sigma, valid=mask)
        return y

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                valid: Optional[torch.Tensor] = None) -> torch.Tensor:
        """pred: raw output (B, 1, H, W); target: continuous edge strength
        with ``ignore_index`` on padding."""
        mask = (target != self.ignore_index) & torch.isfinite(target)
        if valid is not None:
            mask = mask & valid
        y = self.transform_target(target, mask)
        return self.loss_weight * _masked_mean((pred - y).abs(), mask)

    @property
    def loss_name(self) -> str:
        return self._loss_name


#: ``ContinuousEdgeL1Loss`` arguments reproducing the released Taskonomy
#: edge target from a ``[0, 1]`` edge strength (``v / 65535``).
RELEASED_EDGE_TARGET = dict(
    target_scale=2 * 65535 / 409.6, target_shift=-1.0, blur_sigma=4.0)
