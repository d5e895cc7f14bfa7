"""Source statistics of pooled features (mean and covariance)."""
from typing import Dict, Optional

import torch
from torch import Tensor

from mmseg.registry import MODELS

from .base import BaseAuxHead


@MODELS.register_module()
class FeatureStatsHead(BaseAuxHead):
    """Mean and covariance of globally average-pooled features, kept as
    persistent buffers (TTT++'s encoder statistics; a feature-alignment
    objective compares a target batch with them).

    It has no parameters and no source loss. One pass over the source data
    (``tools/analysis/source_stats.py`` or :class:`SourceStatsHook`) fills
    ``stats_mean`` (C,), ``stats_cov`` (C, C) and ``stats_count``.

    Args:
        in_channels: Channels of the input (default: from the context).
        Others: see :class:`BaseAuxHead` (``source``, ``in_index``).
    """

    has_source_stats = True

    def __init__(self, in_channels: Optional[int] = None,
                 source: str = 'backbone', in_index: int = -1,
                 context: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(source=source, in_index=in_index, loss_weight=0.0,
                         context=context, init_cfg=init_cfg)
        c = int(in_channels) if in_channels is not None \
            else self.in_channels_from_context()
        self.in_channels = c
        self.register_buffer('stats_mean', torch.zeros(c, dtype=torch.float64))
        self.register_buffer('stats_cov', torch.zeros(c, c,
                                                      dtype=torch.float64))
        self.register_buffer('stats_count', torch.zeros((),
                                                        dtype=torch.float64))
        self._sums = None

    def forward(self, x: Tensor, views: Optional[dict] = None,
                **kwargs) -> Dict[str, Tensor]:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'FeatureStatsHead: expected (B, '
                             f'{self.in_channels}, H, W) features, got '
                             f'{tuple(x.shape)}')
        return dict(features=x.mean(dim=(2, 3)))

    # ------------------------------------------------------- source statistics
    def stats_begin(self, model=None) -> None:
        c = self.in_channels
        dev = self.stats_mean.device
        self._sums = dict(
            n=torch.zeros((), dtype=torch.float64, device=dev),
            s=torch.zeros(c, dtype=torch.float64, device=dev),
            ss=torch.zeros(c, c, dtype=torch.float64, device=dev))

    def stats_update(self, outputs: Dict[str, Tensor]) -> None:
        if self._sums is None:
            raise RuntimeError('FeatureStatsHead: stats_update before '
                               'stats_begin')
        f = outputs['features'].detach().double()
        self._sums['n'] += f.shape[0]
        self._sums['s'] += f.sum(0)
        self._sums['ss'] += f.t() @ f

    def stats_end(self) -> None:
        n = self._sums['n']
        if n < 2:
            raise RuntimeError('FeatureStatsHead: the statistics pass saw '
                               f'{int(n)} samples; at least 2 are needed')
        mean = self._sums['s'] / n
        cov = (self._sums['ss'] - n * torch.outer(mean, mean)) / (n - 1)
        self.stats_mean.copy_(mean)
        self.stats_cov.copy_(cov)
        self.stats_count.fill_(float(n))
        self._sums = None

    def stats_ready(self) -> bool:
        return bool(self.stats_count > 0)
