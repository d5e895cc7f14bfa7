"""TTT (Sun et al., ICML 2020): adapt the shared encoder and the rotation
head with the rotation-prediction loss on the test batch."""
from typing import Dict, List, Optional

import torch
import torch.nn as nn

from mmseg.registry import HOOKS

from ...models.aux_heads import RotationHead
from .ttt_hook import BaseTTTHook

#: Parameter sets of :class:`TTTHook` beside the generic ones: the official
#: ``ssh.parameters()`` (shared encoder + head) and ``ext.parameters()``
#: (``--fix_ssh``: the shared encoder only).
TTT_PARAM_SETS = ('shared_and_head', 'shared')


@HOOKS.register_module()
class TTTHook(BaseTTTHook):
    """Test-time training with the rotation head (``RotationHead``).

    Each step: the rotated square crops of the test batch go through the
    shared encoder (backbone up to the head's ``in_index``) and the head;
    the loss is the rotation cross-entropy. Only the shared encoder and the
    head move (``params='shared_and_head'``, the official
    ``ssh.parameters()``); ``params='shared'`` moves the shared encoder only
    (the official ``--fix_ssh``); the generic choices of
    :class:`BaseTTTHook` work too.

    The official modes: ``online`` (``reset='online'``, ``steps=1``, the
    model carries over) and ``slow``, here ``reset='episodic'``,
    ``steps=10`` (back to the source weights before each batch). Both with
    SGD lr 1e-3, no momentum, no weight decay; the norm layers of the
    adapted modules in train mode (the official ``ssh.train()``:
    ``norm_scope='adapted'``, so the parts that do not adapt never move
    their running statistics on the rotated views; with ``params='all'``
    that is every norm layer).

    Args:
        steps: Updates per batch (official online mode: 1).
        optimizer: Default ``SGD(lr=1e-3)``.
        params: ``'shared_and_head'`` (default), ``'shared'``, or a generic
            choice (``'all'``, ``'norm'``, ``'encoder'``, a regex).
        norm_scope: Default ``'adapted'`` (see :class:`BaseTTTHook`).
        Others: see :class:`BaseTTTHook`.
    """

    head_type = RotationHead
    required_branches = ()

    def __init__(self,
                 steps: int = 1,
                 optimizer: Optional[dict] = None,
                 params: str = 'shared_and_head',
                 reset: str = 'online',
                 norm_mode: str = 'train',
                 norm_scope: str = 'adapted',
                 **kwargs):
        super().__init__(
            steps=steps,
            optimizer=optimizer or dict(
                type='SGD', lr=1e-3, momentum=0.0, weight_decay=0.0),
            params=params, reset=reset, norm_mode=norm_mode,
            norm_scope=norm_scope, **kwargs)

    # ------------------------------------------------------------ parameters
    def shared_encoder_names(self, model: nn.Module) -> List[str]:
        """Names of the backbone parameters up to the head's level (the
        stages the head copied are not shared)."""
        head = model.aux_heads[self.head_name]
        later = tuple(f'backbone.{n}.' for n in head.stage_names)
        return [
            n for n, _ in model.named_parameters()
            if n.startswith('backbone.') and not n.startswith(later)
        ]

    def _select_params(self, model: nn.Module) -> List[nn.Parameter]:
        if self.params not in TTT_PARAM_SETS:
            return super()._select_params(model)
        names = set(self.shared_encoder_names(model))
        if self.params == 'shared_and_head':
            names |= {n for n, _ in model.named_parameters()
                      if n.startswith(f'aux_heads.{self.head_name}.')}
        chosen = [p for n, p in model.named_parameters()
                  if n in names and p.requires_grad]
        if not chosen:
            raise ValueError(f'TTTHook: params={self.params!r} selects no '
                             'trainable parameter of the model')
        return chosen

    # ------------------------------------------------------------- objective
    def ttt_loss(self, forward, inputs: torch.Tensor, data_samples: list,
                 generator: torch.Generator) -> Dict[str, torch.Tensor]:
        name = self.head_name
        out = forward(inputs, branches=(name, ), generator=generator)
        return dict(loss_rotation=self.head_module.rotation_loss(out[name]))
