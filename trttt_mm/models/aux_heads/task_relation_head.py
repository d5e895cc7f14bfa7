"""TR-TTT's auxiliary branch: task-specific projection + Task Relation Learner."""
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from mmseg.registry import MODELS

from .base import BaseAuxHead

TRL_TARGETS = ('tasks', 'image')


@MODELS.register_module()
class TaskRelationHead(BaseAuxHead):
    """The projection (:class:`TaskProjectionNeck`) and the relation learner
    (:class:`TaskRelationLearner`) of TR-TTT as one auxiliary branch.

    It reads the shared latent z. With ``projection`` z is projected to task
    latents z_i, each with its own y_i^TP output; the relation learner
    predicts every task from the masked latents (y_i^TRL). Without
    ``projection`` the relation learner reads z as a single input group
    (ablation "TRL alone"); ``trl_target='image'`` makes it reconstruct the
    normalised input image instead (ablation "image reconstruction").

    Outputs of :meth:`forward`: ``tp`` ({task: raw output at input size}, with
    a projection), ``latents`` (B, n, C_z, h, w), ``trl`` ({name: raw output
    at input size}) and ``trl_mask``.

    Source loss (paper eq. 7, the auxiliary part):
    ``λ_TP·L_TP + λ_TRL·L_TRL`` with the main head's per-task losses.

    Args:
        learner: :class:`TaskRelationLearner` config (``in_channels``,
            ``num_inputs`` and ``out_channels`` are filled in).
        projection: Optional :class:`TaskProjectionNeck` config
            (``in_channels`` and ``out_channels`` are filled in).
        loss_weights: ``dict(tp=λ_TP, trl=λ_TRL)`` (reference: 0.01 each).
        trl_target: ``'tasks'`` or ``'image'``.
        Others: see :class:`BaseAuxHead` (it always reads ``'shared'``).
    """

    def __init__(self,
                 learner: dict,
                 projection: Optional[dict] = None,
                 loss_weights: Optional[dict] = None,
                 trl_target: str = 'tasks',
                 context: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(source='shared', context=context, init_cfg=init_cfg)
        if trl_target not in TRL_TARGETS:
            raise ValueError(f'TaskRelationHead: trl_target must be one of '
                             f'{TRL_TARGETS}, got {trl_target!r}')
        if learner is None:
            raise ValueError('TaskRelationHead: a relation learner config '
                             '(learner=dict(type=...)) is required')
        self.trl_target = trl_target
        weights = dict(tp=0.01, trl=0.01)
        weights.update(loss_weights or {})
        unknown = set(weights) - {'tp', 'trl'}
        if unknown:
            raise ValueError(f'TaskRelationHead.loss_weights: unknown keys '
                             f"{sorted(unknown)}; expected 'tp' and/or 'trl'")
        for k, v in weights.items():
            if float(v) < 0:
                raise ValueError(f'TaskRelationHead.loss_weights[{k!r}] must '
                                 f'be >= 0, got {v!r}')
        self.loss_weights = weights
        shared = self.in_channels_from_context()
        out_channels = dict(self.context['out_channels'])
        self.align_corners = bool(self.context.get('align_corners', False))
        self.projection = None
        if projection is not None:
            projection = dict(projection)
            projection.setdefault('in_channels', shared)
            projection.setdefault('out_channels', out_channels)
            self.projection = MODELS.build(projection)
        learner = dict(learner)
        if self.projection is not None:
            learner.setdefault('in_channels', self.projection.latent_channels)
            learner.setdefault('num_inputs', len(out_channels))
        else:
            learner.setdefault('in_channels', shared)
            learner.setdefault('num_inputs', 1)
        learner.setdefault(
            'out_channels',
            dict(image=3) if trl_target == 'image' else out_channels)
        self.learner = MODELS.build(learner)

    def _resize(self, out: Dict[str, Tensor], size) -> Dict[str, Tensor]:
        return {
            k: (v if v.shape[2:] == tuple(size) else F.interpolate(
                v, size=size, mode='bilinear',
                align_corners=self.align_corners))
            for k, v in out.items()
        }

    def forward(self, x: Tensor, views: Optional[dict] = None,
                out_size=None, mask=None,
                generator: Optional[torch.Generator] = None,
                **kwargs) -> Dict[str, Tensor]:
        """Projection and relation learner on the shared latent ``x``.

        Args:
            x: The shared latent z.
            out_size: Size of the raw outputs (the input size).
            mask: Passed to the relation learner (``None``: its own masking
                strategy, ``False``: no masking, or a bool tensor).
            generator: Random generator of the mask.
        """
        size = tuple(out_size) if out_size is not None else tuple(x.shape[2:])
        out = {}
        if self.projection is not None:
            proj = self.projection(x)
            latents = proj['latents']
            out['latents'] = latents
            out['tp'] = self._resize(proj['tp'], size)
        else:
            latents = x.unsqueeze(1)
        rel = self.learner(latents, out_size=size, mask=mask,
                            generator=generator)
        out['trl'] = rel['preds']
        out['trl_mask'] = rel['mask']
        return out

    def loss(self, outputs: Dict[str, Tensor], gts: Dict[str, Tensor], model,
             inputs: Tensor) -> Dict[str, Tensor]:
        losses = {}
        if 'tp' in outputs:
            for k, v in model.decode_head.loss_by_task(outputs['tp'], gts,
                                                       'tp.').items():
                losses[k] = v * self.loss_weights['tp']
        if self.trl_target == 'image':
            losses['trl.loss_image'] = self.loss_weights['trl'] * (
                outputs['trl']['image'] - inputs).abs().mean()
        else:
            for k, v in model.decode_head.loss_by_task(outputs['trl'], gts,
                                                       'trl.').items():
                losses[k] = v * self.loss_weights['trl']
        return losses
