"""Dense operations the test-time objectives share: the mask of the pixels
inside each image (the preprocessor pads), its projection onto a feature
grid, entropies of dense outputs and means over masked pixels.

None of them reads a tensor back to the host: they keep a test-time step free
of device synchronisations (see ``BaseTTTHook``'s guard).
"""
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...tasks import TASK_KINDS


def valid_pixels(inputs: torch.Tensor, data_samples) -> torch.Tensor:
    """``(B, 1, H, W)`` bool mask of the pixels inside each sample's image
    (``img_shape``): the preprocessor's padding is False."""
    B, _, H, W = inputs.shape
    mask = torch.zeros(B, 1, H, W, dtype=torch.bool, device=inputs.device)
    for i in range(B):
        meta = data_samples[i].metainfo if data_samples is not None else {}
        h, w = meta.get('img_shape', (H, W))[:2]
        mask[i, :, :h, :w] = True
    return mask


def any_padding(inputs: torch.Tensor, data_samples) -> bool:
    """Whether :func:`valid_pixels` has a False pixel, from the samples'
    ``img_shape`` alone (no device read)."""
    if data_samples is None:
        return False
    H, W = inputs.shape[2:]
    for i in range(inputs.shape[0]):
        h, w = data_samples[i].metainfo.get('img_shape', (H, W))[:2]
        if h < H or w < W:
            return True
    return False


def feature_valid_mask(inputs: torch.Tensor, data_samples,
                       size: Sequence[int]) -> Optional[torch.Tensor]:
    """``(B, 1, h, w)`` bool map of the feature positions whose whole cell
    lies inside the image (not in the preprocessor's padding), or None when
    nothing is padded."""
    if not any_padding(inputs, data_samples):
        return None
    valid = valid_pixels(inputs, data_samples)
    pad = F.adaptive_max_pool2d((~valid).float(), tuple(size))
    return pad < 0.5


def softmax_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Per-pixel entropy ``-Σ_c p_c log p_c`` of ``(B, C, H, W)`` logits
    (``(B, 1, H, W)``)."""
    return -(logits.softmax(1) * logits.log_softmax(1)).sum(1, keepdim=True)


def binary_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Per-pixel entropy of Bernoulli outputs given as logits (same shape)."""
    p = logits.sigmoid()
    return -(p * F.logsigmoid(logits) + (1 - p) * F.logsigmoid(-logits))


def masked_mean(x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean of ``(B, C, H, W)`` ``x`` over channels and the pixels where the
    ``(B, 1, H, W)`` mask ``valid`` is True."""
    valid = valid.to(x.dtype)
    n = valid.sum().clamp_min(1) * x.shape[1]
    return (x * valid).sum() / n


def classification_task(model: nn.Module, where: str) -> str:
    """The model's classification task (semseg), or a clear error."""
    tasks = [t for t in getattr(model, 'tasks', ())
             if TASK_KINDS.get(t) == 'classification']
    if not tasks:
        raise ValueError(
            f'{where} minimises the softmax entropy of a classification '
            f'output, but this model predicts only '
            f'{tuple(getattr(model, "tasks", ()))} (no semseg)')
    return tasks[0]
