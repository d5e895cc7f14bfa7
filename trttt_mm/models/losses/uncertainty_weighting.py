"""Learned per-task uncertainty weighting of multi-task losses.

Kendall, Gal and Cipolla, "Multi-Task Learning Using Uncertainty to Weigh
Losses for Scene Geometry and Semantics", CVPR 2018, in the form the released
TR-TTT code uses for a Taskonomy source (S4T ``losses/loss_schemes.py``,
``MTLoss_S4T_taskonomy_v2``, with ``AutomaticWeightedLoss``): one learned
scalar ``σ_t`` per task, initialised to 1, and

    L = Σ_t [ 0.5 / σ_t² · L_t + log(1 + σ_t²) ]

where ``L_t`` is the sum of every loss of task ``t`` (main + TP + TRL in
TR-TTT). The ``log(1 + σ²)`` regulariser keeps the term bounded below (the
paper's ``log σ`` is not) and is what the released code uses.

The module is a part of the model (``MultiTaskEncoderDecoder(loss_weighting=
dict(type='UncertaintyWeighting'))``), so ``σ`` is in the optimizer, in the
checkpoint, and among the parameters a test-time hook adapts with
``params='all'``.
"""
import math
import re
from typing import Dict, Optional, Sequence

import torch
import torch.nn as nn

from mmseg.registry import MODELS

from ...tasks import check_tasks

#: A loss key of task ``t`` ends with ``loss_<t>`` (``loss_semseg``,
#: ``relation.tp.loss_semseg``, ``relation.trl.loss_semseg``...).
_TASK_KEY = re.compile(r'(?:^|\.)loss_([a-z]+)$')


def task_of_loss_key(key: str, tasks: Sequence[str]) -> Optional[str]:
    """The task a loss key belongs to (``...loss_<task>`` with ``<task>`` in
    ``tasks``), or None."""
    match = _TASK_KEY.search(key)
    if match is None or match.group(1) not in tasks:
        return None
    return match.group(1)


@MODELS.register_module()
class UncertaintyWeighting(nn.Module):
    """Weigh per-task loss sums by learned uncertainties (see module doc).

    Args:
        tasks: The task names, in the model's order. ``None`` lets
            :class:`MultiTaskEncoderDecoder` fill in its tasks.
        init_value: Initial ``σ_t`` (the released code: 1).
        unmatched: What to do with a loss key that belongs to no task
            (``'keep'``: add it unweighted, e.g. an image-reconstruction
            loss; ``'error'``: raise).

    :meth:`forward` takes a dict of losses whose keys end with
    ``loss_<task>`` and returns one weighted loss per task,
    ``loss_<task>``, in the order of :attr:`tasks` (tasks without any loss in
    the batch are left out), followed by the unmatched losses.
    """

    def __init__(self,
                 tasks: Optional[Sequence[str]] = None,
                 init_value: float = 1.0,
                 unmatched: str = 'keep'):
        super().__init__()
        if tasks is None:
            raise ValueError(
                'UncertaintyWeighting.tasks: give the task names, or build '
                'it through MultiTaskEncoderDecoder(loss_weighting=...), '
                'which fills them in')
        self.tasks = check_tasks(tasks, 'UncertaintyWeighting.tasks')
        if isinstance(init_value, bool) or not isinstance(
                init_value, (int, float)) or not math.isfinite(init_value) \
                or init_value == 0:
            raise ValueError('UncertaintyWeighting.init_value must be a '
                             f'finite non-zero number, got {init_value!r}')
        if unmatched not in ('keep', 'error'):
            raise ValueError("UncertaintyWeighting.unmatched must be 'keep' "
                             f"or 'error', got {unmatched!r}")
        self.init_value = float(init_value)
        self.unmatched = unmatched
        self.params = nn.Parameter(
            torch.full((len(self.tasks), ), self.init_value))

    def sigma(self, task: str) -> torch.Tensor:
        """The current ``σ`` of ``task``."""
        return self.params[self.tasks.index(task)]

    def group(self, losses: Dict[str, torch.Tensor]
              ) -> Dict[str, torch.Tensor]:
        """Sum the losses of each task: ``{task: L_t}`` in task order."""
        sums: Dict[str, torch.Tensor] = {}
        for key, value in losses.items():
            task = task_of_loss_key(key, self.tasks)
            if task is None:
                continue
            sums[task] = value if task not in sums else sums[task] + value
        return {t: sums[t] for t in self.tasks if t in sums}

    def forward(self, losses: Dict[str, torch.Tensor],
                regularizer_scale: float = 1.0) -> Dict[str, torch.Tensor]:
        """Weighted per-task losses.

        Args:
            losses: Loss tensors keyed ``...loss_<task>``.
            regularizer_scale: Multiplier of the ``log(1 + σ²)`` terms only.
                A caller that multiplies the returned sum by ``s`` and wants
                the released code's order (scale the task losses, then
                weigh) passes ``1 / s``.

        Returns:
            ``{'loss_<task>': 0.5 / σ_t² · L_t + c · log(1 + σ_t²)}`` plus the
            unmatched losses as they are.
        """
        unmatched = [k for k in losses
                     if task_of_loss_key(k, self.tasks) is None]
        if unmatched and self.unmatched == 'error':
            raise ValueError(
                f'UncertaintyWeighting: losses {unmatched} belong to none of '
                f'the tasks {self.tasks} (keys must end with loss_<task>)')
        out = {}
        for task, total in self.group(losses).items():
            s2 = self.sigma(task)**2
            out[f'loss_{task}'] = 0.5 / s2 * total + \
                regularizer_scale * torch.log1p(s2)
        for key in unmatched:
            out[key] = losses[key]
        return out

    def log_vars(self) -> Dict[str, torch.Tensor]:
        """``{'uncertainty.<task>': σ_t}`` (detached) for the training log;
        the keys hold no ``'loss'``, so they are not summed into the loss."""
        return {f'uncertainty.{t}': self.params[i].detach()
                for i, t in enumerate(self.tasks)}

    def extra_repr(self) -> str:
        return f'tasks={self.tasks}, init_value={self.init_value}'
