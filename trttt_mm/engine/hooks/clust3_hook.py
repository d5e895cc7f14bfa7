"""ClusT3 (Hakim et al., ICCV 2023): adapt the encoder with the
information-maximisation loss of cluster projectors trained at source."""
from typing import Dict, Optional

import torch

from mmseg.registry import HOOKS

from ...models.aux_heads import ClusterHead
from .encoder_stages import EncoderStageTTTHook


@HOOKS.register_module()
class ClusT3Hook(EncoderStageTTTHook):
    """Test-time training with cluster projectors (:class:`ClusterHead`).

    Loss: the head's source loss alone (per projector: mean per-position
    entropy of the assignment + KL(uniform || mean assignment), summed over
    projectors and levels), over the valid (unpadded) positions; the
    projectors do not move.

    Defaults (official ``CIFAR/test_adapt_projector.py``,
    ``CIFAR/configuration.py``, ``CIFAR/utils/utils.py``): Adam lr 1e-5;
    the encoder up to stage 3 (``--extract-layer 3``); 50 steps per batch
    (``--niter``); episodic (weights reloaded and the optimizer rebuilt for
    every batch); ``net.train()``, i.e. the backbone's norm layers use batch
    statistics (``norm_scope='encoder'``; the dense model's decoders stay in
    eval mode).

    Args:
        adapt_up_to: Stage to adapt up to (official: 3).
        Others: see :class:`EncoderStageTTTHook` / :class:`BaseTTTHook`.
    """

    head_type = ClusterHead
    required_branches = ()

    def __init__(self,
                 steps: int = 50,
                 optimizer: Optional[dict] = None,
                 reset: str = 'episodic',
                 norm_scope: str = 'encoder',
                 adapt_up_to: Optional[int] = None,
                 params: Optional[str] = None,
                 **kwargs):
        optimizer = optimizer or dict(type='Adam', lr=1e-5)
        if adapt_up_to is None and params is None:
            adapt_up_to = 3
        super().__init__(steps=steps, optimizer=optimizer, reset=reset,
                         norm_scope=norm_scope, adapt_up_to=adapt_up_to,
                         params=params, **kwargs)

    def ttt_loss(self, forward, inputs: torch.Tensor, data_samples: list,
                 generator: torch.Generator) -> Dict[str, torch.Tensor]:
        name = self.head_name
        out = forward(inputs, branches=(name, ), generator=generator)[name]
        valid = [
            self.valid_mask(inputs, data_samples, lg.shape[-2:])
            for lg in out['logits']
        ]
        return self.head_module.ttt_loss(out, valid=valid)
