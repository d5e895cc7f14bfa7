"""Task-specific projection (paper §3.3, "Task-specific Projection")."""
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS


@MODELS.register_module()
class TaskProjectionNeck(BaseModule):
    """Project the shared latent ``z`` to one latent ``z_i`` per task.

    Two layers per task, as in the paper: a 1×1 convolution from ``z`` to the
    task latent ``z_i`` (``latent_channels`` channels; all tasks share one conv
    with ``n · latent_channels`` outputs, which is the same as ``n`` separate
    1×1 convs) and one more convolution from ``z_i`` to the task-projection
    output ``y_i^TP``. No activation sits between them (the paper calls the
    projection "single-layer"). ``y_i^TP`` follows the main head's raw
    conventions: semseg logits, depth, unnormalised normals, edge logits.

    Args:
        in_channels: channels of the shared latent ``z``.
        out_channels: task name -> channels of ``y_i^TP``, e.g.
            ``{'semseg': 7, 'depth': 1, 'normal': 3, 'edge': 1}``. The dict
            order fixes the order of the latents.
        latent_channels: ``C_z``, channels of each task latent.
        tp_kernel_size: kernel size (odd) of the ``y_i^TP`` layer.
        init_cfg: mmengine init config.

    ``forward(z)`` returns ``dict(latents=(B, n, C_z, h, w), tp={task: (B, c_i,
    h, w)})``. ``z`` may also be a list/tuple of feature maps: they are
    resized (bilinear) to the size of the first one and concatenated.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: Dict[str, int],
                 latent_channels: int = 64,
                 tp_kernel_size: int = 1,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not isinstance(out_channels, dict) or not out_channels:
            raise ValueError('out_channels must be a non-empty dict '
                             f'task -> channels, got {out_channels!r}')
        for name, c in out_channels.items():
            if not isinstance(name, str) or '.' in name or not name:
                raise ValueError(f'invalid output name {name!r}')
            if int(c) != c or c < 1:
                raise ValueError(f'out_channels[{name!r}] must be a positive '
                                 f'integer, got {c!r}')
        if int(in_channels) != in_channels or in_channels < 1:
            raise ValueError(f'in_channels must be a positive integer, got '
                             f'{in_channels!r}')
        if int(latent_channels) != latent_channels or latent_channels < 1:
            raise ValueError('latent_channels must be a positive integer, '
                             f'got {latent_channels!r}')
        if tp_kernel_size < 1 or tp_kernel_size % 2 == 0:
            raise ValueError(
                f'tp_kernel_size must be odd and positive, got '
                f'{tp_kernel_size!r}')
        self.in_channels = int(in_channels)
        self.out_channels = {k: int(v) for k, v in out_channels.items()}
        self.latent_channels = int(latent_channels)
        self.tp_kernel_size = int(tp_kernel_size)
        n = len(self.out_channels)
        self.projection = nn.Conv2d(self.in_channels, n * self.latent_channels,
                                    kernel_size=1)
        self.tp_heads = nn.ModuleDict({
            task: nn.Conv2d(
                self.latent_channels,
                c,
                kernel_size=self.tp_kernel_size,
                padding=self.tp_kernel_size // 2)
            for task, c in self.out_channels.items()
        })

    @property
    def tasks(self) -> Tuple[str, ...]:
        """Task names in latent order."""
        return tuple(self.out_channels)

    @property
    def num_tasks(self) -> int:
        return len(self.out_channels)

    def _merge_inputs(
        self, z: Union[torch.Tensor, Sequence[torch.Tensor]]
    ) -> torch.Tensor:
        if isinstance(z, torch.Tensor):
            return z
        if not isinstance(z, (list, tuple)) or not z:
            raise TypeError('z must be a tensor or a non-empty list/tuple of '
                            f'tensors, got {type(z).__name__}')
        size = z[0].shape[-2:]
        z = [
            f if f.shape[-2:] == size else F.interpolate(
                f, size=size, mode='bilinear', align_corners=False) for f in z
        ]
        return torch.cat(z, dim=1)

    def forward(
        self, z: Union[torch.Tensor, Sequence[torch.Tensor]]
    ) -> Dict[str, Union[torch.Tensor, Dict[str, torch.Tensor]]]:
        """Project ``z`` (B, in_channels, h, w).

        Returns:
            dict with ``latents`` (B, n, C_z, h, w) and ``tp`` {task: (B, c_i,
            h, w)}.
        """
        z = self._merge_inputs(z)
        if z.dim() != 4 or z.shape[1] != self.in_channels:
            raise ValueError(f'expected z of shape (B, {self.in_channels}, h, '
                             f'w), got {tuple(z.shape)}')
        B, _, h, w = z.shape
        latents = self.projection(z).view(B, self.num_tasks,
                                          self.latent_channels, h, w)
        tp = {
            task: head(latents[:, i])
            for i, (task, head) in enumerate(self.tp_heads.items())
        }
        return dict(latents=latents, tp=tp)
