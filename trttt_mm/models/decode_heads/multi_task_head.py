"""Multi-task decode head: a shared fused latent and one light decoder per task."""
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule

from mmseg.registry import MODELS

from ...tasks import REGRESSION_CHANNELS, check_tasks

_DEFAULT_LOSSES = {
    'semseg': dict(type='mmseg.CrossEntropyLoss', loss_weight=1.0,
                   avg_non_ignore=True, loss_name='loss_semseg'),
    'depth': dict(type='DepthL1Loss', loss_weight=1.0),
    'normal': dict(type='NormalL1Loss', loss_weight=10.0),
    'edge': dict(type='BalancedBCELoss', loss_weight=50.0, pos_weight=0.95),
}


def task_out_channels(tasks: Sequence[str], num_classes: Optional[int]
                      ) -> Dict[str, int]:
    """Output channels per task (semseg: ``num_classes``)."""
    out = {}
    for t in tasks:
        if t == 'semseg':
            if not num_classes:
                raise ValueError('num_classes must be set when the tasks '
                                 'include semseg')
            out[t] = int(num_classes)
        else:
            out[t] = REGRESSION_CHANNELS[t]
    return out


@MODELS.register_module()
class MultiTaskHead(BaseModule):
    """Shared multi-scale fusion followed by a light decoder per task.

    The selected backbone levels are resized to the resolution of the first one
    (1/4 scale for ResNets), concatenated and, optionally, mixed by a 1×1
    ConvModule: the result is the shared latent ``z`` that the TR-TTT
    projection reads. Each task then has ``num_convs`` 3×3 ConvModules and a
    1×1 classifier (``num_convs=0`` gives the reference's plain 1×1 head).

    Args:
        in_channels: Channels of the selected feature levels.
        tasks: Task names, in output order.
        num_classes: Classes of the semseg task.
        in_index: Which backbone outputs to use.
        channels: Channels of the fused latent; ``None`` keeps the raw
            concatenation (``sum(in_channels)``).
        head_channels: Channels inside each task decoder.
        num_convs: 3×3 convs per task decoder.
        losses: Per-task loss configs overriding the reference defaults.
        norm_cfg / act_cfg: For the ConvModules.
        align_corners: For every bilinear resize.
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 tasks: Sequence[str] = ('semseg', 'depth', 'normal', 'edge'),
                 num_classes: Optional[int] = None,
                 in_index: Sequence[int] = (0, 1, 2, 3),
                 channels: Optional[int] = 256,
                 head_channels: int = 64,
                 num_convs: int = 1,
                 losses: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 act_cfg: dict = dict(type='ReLU'),
                 align_corners: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.tasks = check_tasks(tasks, 'MultiTaskHead.tasks')
        in_channels = list(in_channels)
        self.in_index = list(in_index)
        if len(in_channels) != len(self.in_index):
            raise ValueError(
                f'MultiTaskHead: in_channels {in_channels} and in_index '
                f'{self.in_index} must have the same length')
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.out_channels = task_out_channels(self.tasks, num_classes)
        self.align_corners = align_corners
        fused = sum(in_channels)
        if channels is None:
            self.fuse_conv = None
            self.channels = fused
        else:
            self.fuse_conv = ConvModule(fused, channels, 1, norm_cfg=norm_cfg,
                                        act_cfg=act_cfg)
            self.channels = channels
        self.decoders = nn.ModuleDict()
        for task in self.tasks:
            layers: List[nn.Module] = []
            c_in = self.channels
            for _ in range(num_convs):
                layers.append(
                    ConvModule(c_in, head_channels, 3, padding=1,
                               norm_cfg=norm_cfg, act_cfg=act_cfg))
                c_in = head_channels
            layers.append(nn.Conv2d(c_in, self.out_channels[task], 1))
            self.decoders[task] = nn.Sequential(*layers)
        loss_cfgs = dict(_DEFAULT_LOSSES)
        for task, cfg in (losses or {}).items():
            check_tasks([task], 'MultiTaskHead.losses')
            loss_cfgs[task] = cfg
        self.losses = nn.ModuleDict(
            {t: MODELS.build(loss_cfgs[t]) for t in self.tasks})

    # ----------------------------------------------------------- forward parts
    def fuse(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        """Shared latent z from the multi-level features."""
        if max(self.in_index) >= len(feats):
            raise ValueError(
                f'MultiTaskHead: in_index {self.in_index} needs '
                f'{max(self.in_index) + 1} feature levels, got {len(feats)}')
        xs = [feats[i] for i in self.in_index]
        size = xs[0].shape[2:]
        xs = [xs[0]] + [
            F.interpolate(x, size=size, mode='bilinear',
                          align_corners=self.align_corners) for x in xs[1:]
        ]
        z = torch.cat(xs, dim=1)
        if self.fuse_conv is not None:
            z = self.fuse_conv(z)
        return z

    def decode(self, z: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Raw per-task outputs at the latent's resolution."""
        return {t: self.decoders[t](z) for t in self.tasks}

    def forward(self, feats: Sequence[torch.Tensor]) -> Dict[str, torch.Tensor]:
        return self.decode(self.fuse(feats))

    # ------------------------------------------------------------------ losses
    def loss_by_task(self, outputs: Dict[str, torch.Tensor],
                     gts: Dict[str, torch.Tensor],
                     prefix: str = '') -> Dict[str, torch.Tensor]:
        """Per-task losses of raw outputs against stacked ground truth.

        Outputs are resized (bilinear) to the ground truth's size first.
        Tasks without ground truth in ``gts`` are skipped.
        """
        losses = {}
        for task, out in outputs.items():
            if task not in gts:
                continue
            gt = gts[task]
            if out.shape[2:] != gt.shape[2:]:
                out = F.interpolate(out, size=gt.shape[2:], mode='bilinear',
                                    align_corners=self.align_corners)
            if task == 'semseg':
                loss = self.losses[task](out, gt[:, 0].long(),
                                         ignore_index=255)
            else:
                loss = self.losses[task](out, gt)
            losses[f'{prefix}loss_{task}'] = loss
        return losses
