"""TENT (Wang et al., ICLR 2021): minimise the entropy of the predictions by
updating the affine parameters of the batch-norm layers, which normalise
with the statistics of the test batch."""
from typing import Dict, Optional

import torch
import torch.nn as nn

from mmseg.registry import HOOKS

# the shared dense operations lived here before objectives.py
from .objectives import (binary_entropy, classification_task,  # noqa: F401
                         masked_mean, softmax_entropy, valid_pixels)
from .ttt_hook import BaseTTTHook


@HOOKS.register_module()
class TENTHook(BaseTTTHook):
    """Test entropy minimisation, as the official ``DequanWang/tent``
    (``tent.py``) does it, on a dense multi-task model.

    Configuration (:meth:`setup`, undone in :meth:`teardown`): every
    batch-norm layer (any ``_BatchNorm``: ``BatchNorm2d``, mmcv/mmseg
    ``SyncBN``, which the official ``isinstance(m, nn.BatchNorm2d)`` check
    misses) forgets its running statistics (``track_running_stats=False``,
    ``running_mean = running_var = None``: the norm policy's
    ``running_stats='forget'``), so it normalises with the statistics of the
    current batch, in training and in prediction, and never updates running
    statistics; all parameters are frozen except the batch-norm ``weight``
    and ``bias``.

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
    running_stats = 'forget'

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
        model.requires_grad_(False)
        for m in layers:
            if m.affine:
                m.weight.requires_grad_(True)
                m.bias.requires_grad_(True)
        super().setup(runner, model)  # the policy forgets running statistics

    def teardown(self, runner, model: nn.Module) -> None:
        super().teardown(runner, model)
        for p, flag in self._requires_grad.items():
            p.requires_grad_(flag)
        self._requires_grad = {}

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
