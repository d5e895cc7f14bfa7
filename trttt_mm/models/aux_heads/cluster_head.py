"""ClusT3's auxiliary head: cluster projectors on encoder stages."""
import math
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmseg.registry import MODELS

from .base import BaseAuxHead

MARGINALS = ('probs', 'logits')
MARGINAL_OVER = ('batch', 'image')


def cluster_loss(logits: Tensor, valid: Optional[Tensor] = None,
                 marginal: str = 'probs',
                 marginal_over: str = 'batch') -> Tensor:
    """ClusT3's information-maximisation loss, summed over projectors.

    For each projector: the mean over positions of the entropy of the
    cluster assignment ``p = softmax(logits)`` (over K) plus
    ``KL(uniform || p_bar)``, with ``p_bar`` the mean assignment (mean of
    ``p`` over positions with ``marginal='probs'``; the official code takes
    ``softmax`` of the mean logits, ``marginal='logits'``), pooled over the
    whole batch or per image (then averaged).

    Args:
        logits: ``(B, P, K, H, W)`` logits of P projectors with K clusters.
        valid: Optional ``(B, 1, H, W)`` bool map of the positions to use.
        marginal: ``'probs'`` or ``'logits'`` (see above).
        marginal_over: ``'batch'`` or ``'image'``.
    """
    B, P, K, H, W = logits.shape
    logp = F.log_softmax(logits, dim=2)
    p = logp.exp()
    ent = -(p * logp).sum(2)  # (B, P, H, W)
    if valid is None:
        w = logits.new_ones(B, 1, H, W)
    else:
        w = valid.to(logits.dtype).view(B, 1, H, W)
    n_all = w.sum().clamp_min(1)
    entropy = (ent * w).sum(dim=(0, 2, 3)) / n_all  # (P,)
    wk = w.unsqueeze(2)  # (B, 1, 1, H, W)
    src = p if marginal == 'probs' else logits
    if marginal_over == 'batch':
        mean = (src * wk).sum(dim=(0, 3, 4)) / n_all  # (P, K)
    else:
        n_img = w.sum(dim=(1, 2, 3)).clamp_min(1).view(B, 1, 1)
        mean = (src * wk).sum(dim=(3, 4)) / n_img  # (B, P, K)
    if marginal == 'probs':
        log_bar = torch.log(mean.clamp_min(1e-12))
    else:
        log_bar = F.log_softmax(mean, dim=-1)
    # KL(u || p_bar) = sum_k u_k (log u_k - log p_bar_k)
    kl = (-math.log(K) - log_bar).mean(dim=-1)
    if marginal_over == 'image':
        if valid is not None:
            has = (w.sum(dim=(1, 2, 3)) > 0).to(kl.dtype).view(B, 1)
            kl = (kl * has).sum(0) / has.sum().clamp_min(1)
        else:
            kl = kl.mean(0)
    return (entropy + kl).sum()


@MODELS.register_module()
class ClusterHead(BaseAuxHead):
    """Cluster projectors on one or more backbone levels (ClusT3, Hakim et
    al., ICCV 2023).

    Each chosen level gets ``num_projectors`` 1x1 convolutions from its
    channels to ``num_clusters`` logits (one grouped weight per level,
    the same parameters as that many separate 1x1 convs). The loss
    (:func:`cluster_loss`) is the per-position entropy of the assignment plus
    ``KL(uniform || mean assignment)`` per projector, summed over projectors
    and levels; at source it is added with ``loss_weight`` (official λ = 1)
    and reaches the encoder; at test time it is the objective alone.

    The official code reshapes a ``(B, K, H, W)`` output with
    ``view(K, -1)``, which groups values per cluster only for a batch of
    one; this head implements the stated loss for any batch size.

    Outputs of :meth:`forward`: ``logits``, a list with one
    ``(B, P, K, h, w)`` tensor per level.

    Args:
        in_indices: Backbone levels (official best: layer1 + layer2, levels
            0 and 1).
        in_channels: Channels of those levels (default: from the context).
        num_clusters: K (official: 10).
        num_projectors: Projectors per level (official best: 15).
        marginal: ``'probs'`` (mean of the assignments, the stated loss) or
            ``'logits'`` (softmax of the mean logits, as the official code).
        marginal_over: ``'batch'`` (default) or ``'image'``.
        loss_weight: λ of the source loss (official: 1).
    """

    def __init__(self,
                 in_indices: Sequence[int] = (0, 1),
                 in_channels: Optional[Sequence[int]] = None,
                 num_clusters: int = 10,
                 num_projectors: int = 15,
                 marginal: str = 'probs',
                 marginal_over: str = 'batch',
                 loss_weight: float = 1.0,
                 context: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        in_indices = [int(i) for i in (
            (in_indices, ) if isinstance(in_indices, int) else in_indices)]
        if not in_indices or len(set(in_indices)) != len(in_indices):
            raise ValueError('ClusterHead.in_indices must be a non-empty list '
                             f'of distinct levels, got {in_indices!r}')
        super().__init__(source='backbone', in_index=in_indices[0],
                         loss_weight=loss_weight, context=context,
                         init_cfg=init_cfg)
        if int(num_clusters) < 2:
            raise ValueError(f'ClusterHead.num_clusters must be >= 2, got '
                             f'{num_clusters!r}')
        if int(num_projectors) < 1:
            raise ValueError(f'ClusterHead.num_projectors must be >= 1, got '
                             f'{num_projectors!r}')
        if marginal not in MARGINALS:
            raise ValueError(f'ClusterHead.marginal must be one of '
                             f'{MARGINALS}, got {marginal!r}')
        if marginal_over not in MARGINAL_OVER:
            raise ValueError(f'ClusterHead.marginal_over must be one of '
                             f'{MARGINAL_OVER}, got {marginal_over!r}')
        if in_channels is None:
            chans = []
            for i in in_indices:
                self.in_index = i
                chans.append(self.in_channels_from_context())
            self.in_index = in_indices[0]
        else:
            chans = [int(c) for c in in_channels]
            if len(chans) != len(in_indices):
                raise ValueError(f'ClusterHead: {len(chans)} in_channels for '
                                 f'{len(in_indices)} in_indices')
        self.in_indices = in_indices
        self.in_channels = chans
        self.num_clusters = int(num_clusters)
        self.num_projectors = int(num_projectors)
        self.marginal = marginal
        self.marginal_over = marginal_over
        self.projectors = nn.ModuleList(
            nn.Conv2d(c, self.num_projectors * self.num_clusters, 1)
            for c in chans)

    def select_input(self, feats: Sequence[Tensor], shared, image
                     ) -> List[Tensor]:
        """The feature maps of every chosen level (a list)."""
        out = []
        for i in self.in_indices:
            if not -len(feats) <= i < len(feats):
                raise ValueError(
                    f'ClusterHead: level {i} is out of range for '
                    f'{len(feats)} backbone levels')
            out.append(feats[i])
        return out

    def forward(self, x: Sequence[Tensor], views: Optional[dict] = None,
                **kwargs) -> Dict[str, List[Tensor]]:
        if isinstance(x, Tensor):
            x = [x]
        if len(x) != len(self.projectors):
            raise ValueError(f'ClusterHead: expected {len(self.projectors)} '
                             f'feature maps (levels {self.in_indices}), got '
                             f'{len(x)}')
        logits = []
        for f, proj, c in zip(x, self.projectors, self.in_channels):
            if f.dim() != 4 or f.shape[1] != c:
                raise ValueError(f'ClusterHead: expected (B, {c}, H, W) '
                                 f'features, got {tuple(f.shape)}')
            y = proj(f)
            B, _, H, W = y.shape
            logits.append(y.view(B, self.num_projectors, self.num_clusters,
                                 H, W))
        return dict(logits=logits)

    def objective(self, outputs: Dict[str, List[Tensor]],
                  valid: Optional[Sequence[Optional[Tensor]]] = None
                  ) -> Tensor:
        """:func:`cluster_loss` summed over levels; ``valid`` holds one
        optional ``(B, 1, h, w)`` bool map per level."""
        logits = outputs['logits']
        valid = list(valid) if valid is not None else [None] * len(logits)
        return sum(
            cluster_loss(lg, v, self.marginal, self.marginal_over)
            for lg, v in zip(logits, valid))

    def loss(self, outputs, gts, model, inputs) -> Dict[str, Tensor]:
        if self.loss_weight == 0:
            return {}
        return dict(loss_cluster=self.loss_weight * self.objective(outputs))

    def ttt_loss(self, outputs, valid=None, **kwargs) -> Dict[str, Tensor]:
        """ClusT3's test-time objective (the source loss, unweighted)."""
        return dict(loss_cluster=self.objective(outputs, valid))
