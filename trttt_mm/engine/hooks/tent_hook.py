"""TENT (Wang et al., ICLR 2021): minimise the entropy of the predictions by
updating the affine parameters of the batch-norm layers, which normalise
with the statistics of the test batch."""
from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmseg.registry import HOOKS

from ...tasks import TASK_KINDS
from .trttt_hook import valid_pixels
from .ttt_hook import BaseTTTHook


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


@HOOKS.register_module()
class TENTHook(BaseTTTHook):
    """Test entropy minimisation, as the official ``DequanWang/tent``
    (``tent.py``) does it, on a dense multi-task model.

    Configuration (:meth:`setup`, undone in :meth:`teardown`): every
    batch-norm layer (any ``_BatchNorm``: ``BatchNorm2d``, mmcv/mmseg
    ``SyncBN``, which the official ``isinstance(m, nn.BatchNorm2d)`` check
    misses) forgets its running statistics (``track_running_stats=False``,
    ``running_mean = running_var = None``), so it normalises with the
    statistics of the current batch, in training and in prediction, and
    never updates running statistics; all parameters are frozen except the
    batch-norm ``weight`` and ``bias``.

    Loss: mean per-pixel softmax entropy of the semseg logits over the valid
    (unpadded) pixels, plus ``edge_weight`` times the mean binary entropy of
    the edge logits (0 by default: the official method has one
    classification output).

    Defaults as the official ``cfgs/tent.yaml``/``conf.py``: Adam lr 1e-3,
    β (0.9, 0.999), weight decay 0, one step per batch, online
    (``reset='episodic'`` is the official ``MODEL.EPISODIC``: model and
    optimizer back to their state after configuration before each batch).

    Args:
        edge_weight: Weight of the edge map's binary entropy (>= 0).
        Others: see :class:`BaseTTTHook`. ``params`` can only narrow the
        trainable set (the other parameters are frozen).
    """

    head_type = None
    required_branches = ('main', )

    def __init__(self,
                 edge_weight: float = 0.0,
                 steps: int = 1,
                 optimizer: Optional[dict] = None,
                 params: str = 'norm',
                 norm_mode: str = 'train',
                 **kwargs):
        super().__init__(
            steps=steps,
            optimizer=optimizer or dict(type='Adam', lr=1e-3,
                                        betas=(0.9, 0.999), weight_decay=0.0),
            params=params, norm_mode=norm_mode, **kwargs)
        if isinstance(edge_weight, bool) or not isinstance(
                edge_weight, (int, float)) or not edge_weight >= 0:
            raise ValueError('TENTHook.edge_weight must be a number >= 0, '
                             f'got {edge_weight!r}')
        self.edge_weight = float(edge_weight)

    def setup(self, runner, model: nn.Module) -> None:
        self._task = classification_task(model, 'TENTHook')
        if self.edge_weight > 0 and 'edge' not in model.tasks:
            raise ValueError('TENTHook.edge_weight > 0 needs an edge task; '
                             f'this model predicts {tuple(model.tasks)}')
        layers = [m for m in model.modules()
                  if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if not any(m.affine for m in layers):
            raise ValueError(
                'TENTHook adapts the affine parameters of batch-norm layers; '
                f'this model ({type(model).__name__}) has none')
        self._requires_grad = {p: p.requires_grad for p in model.parameters()}
        self._bn_state = [(m, m.track_running_stats, m.running_mean,
                           m.running_var) for m in layers]
        model.requires_grad_(False)
        for m in layers:
            m.track_running_stats = False
            m.running_mean = None
            m.running_var = None
            if m.affine:
                m.weight.requires_grad_(True)
                m.bias.requires_grad_(True)

    def teardown(self, runner, model: nn.Module) -> None:
        for m, track, mean, var in self._bn_state:
            m.track_running_stats = track
            m.running_mean = mean
            m.running_var = var
        for p, flag in self._requires_grad.items():
            p.requires_grad_(flag)
        self._bn_state, self._requires_grad = [], {}

    def ttt_loss(self, forward, inputs: torch.Tensor, data_samples: list,
                 generator: torch.Generator) -> Dict[str, torch.Tensor]:
        main = forward(inputs, branches=('main', ))['main']
        valid = valid_pixels(inputs, data_samples)
        losses = {
            f'loss_entropy_{self._task}': masked_mean(
                softmax_entropy(main[self._task]), valid)
        }
        if self.edge_weight > 0:
            losses['loss_entropy_edge'] = self.edge_weight * masked_mean(
                binary_entropy(main['edge']), valid)
        return losses
