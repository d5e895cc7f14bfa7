"""TR-TTT (paper eq. 8): make the TRL's masked predictions agree with the
main predictions, which serve as stop-gradient pseudo-labels."""
from typing import Dict, Optional

import torch
import torch.nn.functional as F

from mmseg.registry import HOOKS

from .ttt_hook import BaseTTTHook

LOSS_TYPES = ('l1', 'task')


@HOOKS.register_module()
class TRTTTHook(BaseTTTHook):
    """Test-time training with the Task Relation Learner.

    Loss: Σ_i L_i(y_i^TRL, stopgrad(y_i^main)).

    Args:
        loss: ``'l1'`` (default, the released code: L1 between the activated
            outputs — softmax, depth, unit normals, edge probabilities — for
            every task) or ``'task'`` (the per-task training losses of the
            head with pseudo-labels: argmax classes, depth, normals, edges
            thresholded at 0.5).
        Other arguments: see :class:`BaseTTTHook`. Defaults follow the paper
        (Appendix B) and the released code: SGD lr 2e-5, wd 1e-6, momentum 0,
        40 steps per batch, loss scale 0.01, all parameters, norm layers in
        train mode.

    With a model trained with ``trl_target='image'`` (Table 3 ablation) the
    loss is the L1 reconstruction error of the input image instead.
    """

    required_branches = ('main', 'trl')

    def __init__(self,
                 loss: str = 'l1',
                 steps: int = 40,
                 optimizer: Optional[dict] = None,
                 loss_scale: float = 0.01,
                 **kwargs):
        if loss not in LOSS_TYPES:
            raise ValueError(f'TRTTTHook: unknown loss {loss!r}; expected one '
                             f'of {LOSS_TYPES}')
        super().__init__(steps=steps, optimizer=optimizer,
                         loss_scale=loss_scale, **kwargs)
        self.loss = loss

    def ttt_loss(self, forward, inputs: torch.Tensor, data_samples: list,
                 generator: torch.Generator) -> Dict[str, torch.Tensor]:
        model = self.model
        if model.trl_target == 'image':
            out = forward(inputs, branches=('trl', ), generator=generator)
            return {'loss_image': (out['trl']['image'] - inputs).abs().mean()}
        out = forward(inputs, branches=('main', 'trl'), generator=generator)
        main, trl = out['main'], out['trl']
        losses = {}
        if self.loss == 'l1':
            for task in model.tasks:
                target = model.activate(task, main[task]).detach()
                pred = model.activate(task, trl[task])
                losses[f'loss_{task}'] = F.l1_loss(pred, target)
            return losses
        pseudo = {}
        for task in model.tasks:
            y = main[task].detach()
            if task == 'semseg':
                pseudo[task] = y.argmax(dim=1, keepdim=True).float()
            elif task == 'normal':
                pseudo[task] = F.normalize(y, dim=1, eps=1e-6)
            elif task == 'edge':
                pseudo[task] = (y.sigmoid() > 0.5).float()
            else:
                pseudo[task] = y.clamp(min=1e-3)
        return model.decode_head.loss_by_task(trl, pseudo)
