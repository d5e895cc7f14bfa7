"""NC-TTT (Osowiechi et al., CVPR 2024): adapt the encoder so that a noise
discriminator trained at source sees target features as "near" (low-noise)
copies of source features."""
from typing import Dict, Optional

import torch
import torch.nn as nn

from mmseg.registry import HOOKS

from ...models.aux_heads import NoiseContrastHead
from .encoder_stages import EncoderStageTTTHook
from .norm_policy import norm_layers

DISCRIMINATOR_MODES = ('train', 'eval')


@HOOKS.register_module()
class NCTTTHook(EncoderStageTTTHook):
    """Test-time training with noise-contrastive estimation
    (:class:`NoiseContrastHead`).

    Loss (official): ``BCE(sigmoid(-disc(f)), 1)`` on the clean projected
    target features, averaged over the valid (unpadded) positions. Projector
    and discriminator do not move.

    Defaults (official ``adapt.py``, ``configuration.py``,
    ``utils/utils.py``): Adam lr 1e-5 (``--optim adam``, ``--adapt-lr``);
    the encoder up to the projector's stage (``layers[-1]``); 50 steps per
    batch (``--niter``); episodic (weights reloaded for every batch);
    ``net.train()``: the backbone's norm layers use batch statistics
    (``norm_scope='encoder'``) and so does the discriminator's BatchNorm
    (``discriminator_mode='train'``).

    Args:
        discriminator_mode: Mode of the discriminator's norm layer while
            adapting: ``'train'`` (official) or ``'eval'`` (source running
            statistics).
        Others: see :class:`EncoderStageTTTHook` / :class:`BaseTTTHook`.
    """

    head_type = NoiseContrastHead
    required_branches = ()

    def __init__(self,
                 steps: int = 50,
                 optimizer: Optional[dict] = None,
                 reset: str = 'episodic',
                 norm_scope: str = 'encoder',
                 discriminator_mode: str = 'train',
                 **kwargs):
        if discriminator_mode not in DISCRIMINATOR_MODES:
            raise ValueError(f'NCTTTHook.discriminator_mode must be one of '
                             f'{DISCRIMINATOR_MODES}, got '
                             f'{discriminator_mode!r}')
        optimizer = optimizer or dict(type='Adam', lr=1e-5)
        super().__init__(steps=steps, optimizer=optimizer, reset=reset,
                         norm_scope=norm_scope, **kwargs)
        self.discriminator_mode = discriminator_mode

    def norm_overrides(self, model: nn.Module) -> Dict[nn.Module, bool]:
        """The discriminator's norm layers follow ``discriminator_mode``."""
        disc = model.aux_heads[self.head_name].discriminator
        train = self.discriminator_mode == 'train'
        return {m: train for m in norm_layers(disc)}

    def ttt_loss(self, forward, inputs: torch.Tensor, data_samples: list,
                 generator: torch.Generator) -> Dict[str, torch.Tensor]:
        name = self.head_name
        out = forward(inputs, branches=(name, ), generator=generator)[name]
        valid = self.valid_mask(inputs, data_samples,
                                out['features'].shape[2:])
        return self.head_module.ttt_loss(out, valid=valid)
