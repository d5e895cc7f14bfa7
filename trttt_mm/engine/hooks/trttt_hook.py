"""TR-TTT (paper eq. 8): make the TRL's masked predictions agree with the
main predictions, which serve as stop-gradient pseudo-labels."""
from typing import Dict, Optional, Union

import torch
import torch.nn.functional as F

from mmengine.dist import all_reduce, get_world_size

from mmseg.registry import HOOKS, MODELS

from ...models.aux_heads import TaskRelationHead
from ...tasks import IGNORE_VALUES, activate, pseudo_label
from .objectives import valid_pixels  # noqa: F401  (its home before)
from .ttt_hook import BaseTTTHook

#: Test-time loss presets (see docs/methods.md, "TR-TTT test-time loss").
LOSS_PRESETS = ('activated_l1', 'released', 'paper')


@HOOKS.register_module()
class TRTTTHook(BaseTTTHook):
    """Test-time training with the Task Relation Learner.

    Loss: ``loss_scale · Σ_t c_t · L_t(y_t^TRL, stopgrad(y_t^main))``, with
    ``L_t`` and ``c_t`` from the preset ``loss``:

    * ``'activated_l1'`` (default): element-mean L1 between the activated
      outputs (softmax, depth, unit normals, edge probabilities), ``c_t = 1``.
    * ``'released'``: the authors' released code (S4T ``TTT_L1`` in
      ``MTLoss_S4T_v2``): L1 between the **raw** outputs (logits, depth,
      unnormalised normals, edge logits), summed over channels and averaged
      over the valid (unpadded) pixels, ``c_t = w_t²`` where ``w_t`` is the
      task's training loss weight (the released code applies it twice).
    * ``'paper'``: the per-task training losses of the head with pseudo-labels
      (argmax classes, depth, unit normals, edges thresholded at 0.5), each
      weighted once by its training weight ``w_t`` (paper §3.3: "the loss
      scales commonly employed in multi-task learning", scaled by 0.01).

    Args:
        loss: One of :data:`LOSS_PRESETS`.
        task_weights: ``{task: w_t}`` overriding the training weights read
            from the model's head (used by ``'released'``).
        loss_weighting: Route the per-task losses through a learned
            weighting (the released code with a Taskonomy target, S4T
            ``MTLoss_S4T_taskonomy_v2``): ``None`` (off), ``'model'`` (the
            model's own ``loss_weighting``, trained at source time) or a
            config such as ``dict(type='UncertaintyWeighting')``, built fresh
            before the test (tasks default to the model's) and attached to
            the model as ``ttt_loss_weighting`` until the test ends, so its
            parameters are adapted with ``params='all'`` and reset with the
            model. The per-task losses are scaled by ``loss_scale`` before
            the weighting, as in the released code, and the weighted sum is
            not scaled again (the hook passes ``1 / loss_scale`` as the
            weighting's ``regularizer_scale``). Under DDP the gradients of a
            hook-built weighting are averaged over the ranks.
        Other arguments: see :class:`BaseTTTHook`. Defaults follow the paper
        (Appendix B) and the released code: SGD lr 2e-5, wd 1e-6, momentum 0,
        40 steps per batch, loss scale 0.01, all parameters, norm layers in
        train mode.

    With a head trained with ``trl_target='image'`` (Table 3 ablation) the
    loss is the L1 reconstruction error of the input image instead.
    """

    head_type = TaskRelationHead
    required_branches = ('main', )

    def __init__(self,
                 loss: str = 'activated_l1',
                 task_weights: Optional[Dict[str, float]] = None,
                 steps: int = 40,
                 optimizer: Optional[dict] = None,
                 loss_scale: float = 0.01,
                 loss_weighting: Union[None, str, dict] = None,
                 **kwargs):
        if loss not in LOSS_PRESETS:
            raise ValueError(f'TRTTTHook.loss: unknown preset {loss!r}; '
                             f'expected one of {LOSS_PRESETS}')
        super().__init__(steps=steps, optimizer=optimizer,
                         loss_scale=loss_scale, **kwargs)
        self.loss = loss
        self.task_weights = dict(task_weights or {})
        for t, w in self.task_weights.items():
            if not isinstance(w, (int, float)) or w < 0:
                raise ValueError(f'TRTTTHook.task_weights[{t!r}] must be a '
                                 f'number >= 0, got {w!r}')
        if not (loss_weighting is None or loss_weighting == 'model' or
                (isinstance(loss_weighting, dict)
                 and 'type' in loss_weighting)):
            raise ValueError(
                "TRTTTHook.loss_weighting must be None, 'model' or a config "
                f"dict with a type, got {loss_weighting!r}")
        self.loss_weighting = loss_weighting
        self._weighting = None

    def setup(self, runner, model) -> None:
        super().setup(runner, model)
        if self.loss_weighting is None:
            self._weighting = None
        elif self.loss_weighting == 'model':
            if getattr(model, 'loss_weighting', None) is None:
                raise ValueError(
                    "TRTTTHook.loss_weighting='model' needs a model built "
                    'with loss_weighting=dict(type=...), but this one has '
                    'none; give a config dict to build one for the test')
            self._weighting = model.loss_weighting
        else:
            if hasattr(model, 'ttt_loss_weighting'):
                raise ValueError('TRTTTHook: the model already has a '
                                 'ttt_loss_weighting (is another TRTTTHook '
                                 'registered?)')
            cfg = dict(self.loss_weighting)
            if cfg.get('tasks') is None:
                cfg['tasks'] = model.tasks
            device = next(model.parameters()).device
            model.ttt_loss_weighting = MODELS.build(cfg).to(device)
            self._weighting = model.ttt_loss_weighting
            if get_world_size() > 1:
                for p in self._weighting.parameters():
                    p.register_hook(_average_over_ranks)

    def teardown(self, runner, model) -> None:
        if isinstance(self.loss_weighting, dict) and hasattr(
                model, 'ttt_loss_weighting'):
            del model.ttt_loss_weighting
        self._weighting = None
        super().teardown(runner, model)

    def ttt_loss(self, forward, inputs: torch.Tensor, data_samples: list,
                 generator: torch.Generator) -> Dict[str, torch.Tensor]:
        losses = self._task_losses(forward, inputs, data_samples, generator)
        if self._weighting is None:
            return losses
        # The base class multiplies the sum by loss_scale: the task terms
        # end up as 0.5 / σ² · (loss_scale · L_t) and the regulariser
        # log(1 + σ²) unscaled, the released code's order.
        return self._weighting(losses,
                               regularizer_scale=1.0 / self.loss_scale)

    def _weight(self, task: str) -> float:
        if task in self.task_weights:
            return float(self.task_weights[task])
        return float(getattr(self.model.decode_head.losses[task],
                             'loss_weight', 1.0))

    def _task_losses(self, forward, inputs: torch.Tensor,
                     data_samples: list,
                     generator: torch.Generator) -> Dict[str, torch.Tensor]:
        """The preset's per-task losses ``c_t · L_t`` (not yet scaled)."""
        model, name = self.model, self.head_name
        if self.head_module.trl_target == 'image':
            out = forward(inputs, branches=(name, ), generator=generator)
            return {
                'loss_image': (out[name]['trl']['image'] - inputs).abs().mean()
            }
        out = forward(inputs, branches=('main', name), generator=generator)
        main, trl = out['main'], out[name]['trl']
        losses = {}
        if self.loss == 'activated_l1':
            for task in model.tasks:
                target = activate(task, main[task]).detach()
                pred = activate(task, trl[task])
                losses[f'loss_{task}'] = F.l1_loss(pred, target)
            return losses
        valid = valid_pixels(inputs, data_samples)
        if self.loss == 'released':
            n = valid.sum().clamp_min(1)
            for task in model.tasks:
                err = (trl[task] - main[task].detach()).abs().sum(
                    dim=1, keepdim=True)
                w = self._weight(task)
                losses[f'loss_{task}'] = w * w * (err * valid).sum() / n
            return losses
        pseudo = {}
        for task in model.tasks:
            y = pseudo_label(task, main[task])
            pseudo[task] = torch.where(
                valid, y, torch.full_like(y, float(IGNORE_VALUES[task])))
        return model.decode_head.loss_by_task(trl, pseudo)


def _average_over_ranks(grad: torch.Tensor) -> torch.Tensor:
    """Gradient hook: the mean of ``grad`` over the DDP ranks."""
    grad = grad.clone()
    all_reduce(grad, op='mean')
    return grad
