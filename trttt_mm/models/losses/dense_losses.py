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
        pred = F.normalize(pred, dim=1, eps=1e-6)
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
