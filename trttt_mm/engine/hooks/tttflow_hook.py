"""TTTFlow (Osowiechi et al., WACV 2023): adapt the encoder so that a flow
trained on source features finds the target features likely."""
from typing import Dict, Optional

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmseg.registry import HOOKS

from ...models.aux_heads import FlowHead
from .encoder_stages import EncoderStageTTTHook


@HOOKS.register_module()
class TTTFlowHook(EncoderStageTTTHook):
    """Test-time training with a normalising flow (:class:`FlowHead`).

    Loss: the negative log-likelihood of the target features under the
    frozen flow, in nats per dimension, over the valid (unpadded) positions.
    Only the encoder up to the flow's stage moves (``adapt_up_to``, default
    the stage the flow reads); the flow is not optimised.

    Defaults (official ``test_calls/test_adapt.py`` and
    ``test_calls/configuration.py``): SGD lr 1e-3, momentum 0.9,
    weight decay 5e-4; 10 steps per batch (``--niter``); episodic (the
    network and the flow are reloaded for every batch, ``--online False``);
    the adapted encoder in train mode (batch statistics) and everything else
    in eval mode (``norm_scope='adapted'``: the official adaptation runs only
    ``conv1 ... layer2``).

    Args:
        Everything of :class:`EncoderStageTTTHook` / :class:`BaseTTTHook`.
    """

    head_type = FlowHead
    required_branches = ()

    def __init__(self,
                 steps: int = 10,
                 optimizer: Optional[dict] = None,
                 reset: str = 'episodic',
                 norm_scope: str = 'adapted',
                 **kwargs):
        optimizer = optimizer or dict(
            type='SGD', lr=1e-3, momentum=0.9, weight_decay=5e-4)
        super().__init__(steps=steps, optimizer=optimizer, reset=reset,
                         norm_scope=norm_scope, **kwargs)

    def ttt_loss(self, forward, inputs: torch.Tensor, data_samples: list,
                 generator: torch.Generator) -> Dict[str, torch.Tensor]:
        name = self.head_name
        out = forward(inputs, branches=(name, ), generator=generator)[name]
        valid = self.valid_mask(inputs, data_samples, out['z'].shape[2:])
        return self.head_module.ttt_loss(out, valid=valid)


@HOOKS.register_module()
class FlowStageHook(Hook):
    """TTTFlow's second training stage: train the flow alone on the frozen,
    source-trained model.

    Before training, every parameter outside the flow head stops requiring
    gradients, and before every iteration the model is put in eval mode
    except the flow head (the train loop calls ``model.train()`` first), so
    the encoder's BatchNorm layers keep their source running statistics
    and give the flow the features the model predicts with. An optimizer
    wrapper's ``lr_mult=0`` would not do: BatchNorm statistics would still
    move in train mode.

    The stage needs the source weights: it refuses to train when nothing was
    loaded (``load_from`` / ``--resume``).

    Args:
        head: Name of the :class:`FlowHead` (default: the model's only one).
        require_checkpoint: Refuse to train without loaded weights.
    """

    priority = 'VERY_HIGH'

    def __init__(self, head: Optional[str] = None,
                 require_checkpoint: bool = True):
        if head is not None and (not isinstance(head, str) or not head):
            raise ValueError(f'FlowStageHook.head must be a head name or '
                             f'None, got {head!r}')
        self.head = head
        self.require_checkpoint = bool(require_checkpoint)

    @staticmethod
    def _unwrap(model):
        return model.module if is_model_wrapper(model) else model

    def _resolve(self, model) -> str:
        heads = getattr(model, 'aux_heads', {})
        if self.head is not None:
            if self.head not in heads or not isinstance(
                    heads[self.head], FlowHead):
                kinds = {n: type(h).__name__ for n, h in heads.items()}
                raise ValueError(
                    f'FlowStageHook.head: {self.head!r} is not a FlowHead of '
                    f'the model (heads: {kinds})')
            return self.head
        found = [n for n, h in heads.items() if isinstance(h, FlowHead)]
        if len(found) != 1:
            raise ValueError(
                'FlowStageHook needs exactly one FlowHead in model.aux_heads '
                f'(or head=NAME), found {found or "none"}')
        return found[0]

    def before_train(self, runner) -> None:
        model = self._unwrap(runner.model)
        self.head_name = self._resolve(model)
        if self.require_checkpoint and not getattr(runner, '_has_loaded',
                                                   False):
            raise RuntimeError(
                'FlowStageHook: the flow stage trains on the source model, '
                'but no weights were loaded; pass the source checkpoint with '
                '--cfg-options load_from=PATH (or --resume)')
        prefix = f'aux_heads.{self.head_name}.'
        frozen = trainable = 0
        for name, p in model.named_parameters():
            if name.startswith(prefix):
                trainable += p.numel()
            else:
                p.requires_grad_(False)
                frozen += p.numel()
        print_log(
            f'[FlowStageHook] training {prefix}* ({trainable} parameters); '
            f'{frozen} parameters frozen, the rest of the model in eval mode',
            logger='current')

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        model = self._unwrap(runner.model)
        model.eval()
        model.aux_heads[self.head_name].train()
