"""TTT's rotation head (Sun et al., ICML 2020): a Y-shaped network whose
self-supervised branch predicts the rotation of square crops."""
import copy
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmseg.registry import MODELS

from .base import BaseAuxHead

ROTATION_MODES = ('expand', 'rand')
CROP_MODES = ('center', 'random')
NUM_ROTATIONS = 4


def _randint(high: int, size, generator: Optional[torch.Generator]
             ) -> Tensor:
    """Integers in ``[0, high)`` from ``generator`` (CPU), or the global
    generator when it is None."""
    return torch.randint(0, high, size, generator=generator)


@MODELS.register_module()
class RotationHead(BaseAuxHead):
    """The rotation branch of TTT, on square crops of the batch.

    The encoder up to backbone level ``in_index`` is shared with the main
    branch. The head is a **copy of the backbone's remaining stages** (built
    from the same backbone config, passed by the segmentor in
    ``context['backbone_cfg']``), global average pooling and a 4-way linear
    classifier (the official ``head_on_layer2`` / ImageNet ``shared=layer3``
    construction). With ``in_index`` at the last level nothing is copied: the
    head is pooling + the linear layer.

    Views (:meth:`views`): a square crop of every image (side
    ``min(H, W)``, or ``crop_size``), centred or at a random place
    (``crop``), rotated by 0/90/180/270 degrees; ``rotations='expand'``
    gives every crop in all four rotations (4B views, as the official
    training script, ``--rotation_type expand``), ``'rand'`` one random
    rotation per crop (B views). Square crops keep a rotated view the same
    shape as an unrotated one, so the four rotations batch together and the
    rotation cannot be read from the aspect ratio. The segmentor runs the
    encoder on the views for this head only.

    Outputs of :meth:`forward`: ``logits`` (N, 4) and ``labels`` (N,) (the
    rotation index k of ``torch.rot90(x, k, dims=(2, 3))``).

    Source loss: ``loss_weight · CE(logits, labels)`` (official: equal
    weights of the main and the rotation cross-entropy).

    Args:
        in_index: Backbone level shared with the main branch (default 2: the
            official ImageNet split, conv1..layer3 shared, a copy of layer4
            in the head).
        rotations: ``'expand'`` or ``'rand'`` (see above).
        crop: ``'center'`` or ``'random'`` placement of the square crop.
        crop_size: Side of the square crop (default: ``min(H, W)``; a larger
            value is clipped to it).
        in_channels: Channels of level ``in_index`` (default: from the
            context; checked against the copied stages).
        loss_weight: Multiplier of the rotation cross-entropy.
        context: Filled in by the segmentor.
        init_cfg: Default: the backbone's ``init_cfg`` when it is
            ``Pretrained`` (the copied stages then load the same weights,
            matched by their names ``layerN.*``), else Kaiming-normal convs
            and unit norm layers as mmseg's ResNet.

    Raises:
        ValueError: when the backbone is not an mmseg ResNet-style backbone
            (``res_layers``), ``in_index`` is out of range, or the channels do
            not match.
    """

    def __init__(self,
                 in_index: int = 2,
                 rotations: str = 'expand',
                 crop: str = 'center',
                 crop_size: Optional[int] = None,
                 in_channels: Optional[int] = None,
                 loss_weight: float = 1.0,
                 context: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        context = dict(context or {})
        backbone_cfg = context.get('backbone_cfg')
        if init_cfg is None:
            bb_init = (backbone_cfg or {}).get('init_cfg')
            if isinstance(bb_init, dict) and bb_init.get('type') == \
                    'Pretrained':
                init_cfg = copy.deepcopy(dict(bb_init))
            else:
                init_cfg = [
                    dict(type='Kaiming', layer='Conv2d'),
                    dict(type='Constant', val=1,
                         layer=['_BatchNorm', 'GroupNorm'])
                ]
        super().__init__(source='backbone', in_index=in_index,
                         loss_weight=loss_weight, context=context,
                         init_cfg=init_cfg)
        if rotations not in ROTATION_MODES:
            raise ValueError(f'RotationHead.rotations must be one of '
                             f'{ROTATION_MODES}, got {rotations!r}')
        if crop not in CROP_MODES:
            raise ValueError(f'RotationHead.crop must be one of '
                             f'{CROP_MODES}, got {crop!r}')
        if crop_size is not None and (isinstance(crop_size, bool)
                                      or not isinstance(crop_size, int)
                                      or crop_size < 1):
            raise ValueError('RotationHead.crop_size must be a positive '
                             f'integer or None, got {crop_size!r}')
        if backbone_cfg is None:
            raise ValueError(
                'RotationHead needs the backbone config to copy its later '
                "stages: build it inside MultiTaskEncoderDecoder (which "
                "passes context['backbone_cfg'])")
        self.rotations = rotations
        self.crop = crop
        self.crop_size = crop_size
        self.stage_names, stages, out_channels, level_channels = \
            self._copy_stages(backbone_cfg, in_channels)
        self.in_channels = level_channels
        for name, stage in zip(self.stage_names, stages):
            # Same attribute names as in the backbone, so a backbone
            # checkpoint's ``layerN.*`` keys load into the copy.
            self.add_module(name, stage)
        self.fc = nn.Linear(out_channels, NUM_ROTATIONS)

    # ----------------------------------------------------------- structure
    def _copy_stages(self, backbone_cfg: dict, in_channels: Optional[int]
                     ) -> Tuple[Tuple[str, ...], list, int, int]:
        backbone = MODELS.build(copy.deepcopy(backbone_cfg))
        names = list(getattr(backbone, 'res_layers', []) or [])
        if not names:
            raise ValueError(
                'RotationHead copies the stages after in_index from an mmseg '
                f"ResNet-style backbone (with res_layers); "
                f'{type(backbone).__name__} has none')
        out_indices = tuple(getattr(backbone, 'out_indices',
                                    range(len(names))))
        if not -len(out_indices) <= self.in_index < len(out_indices):
            raise ValueError(
                f'RotationHead.in_index {self.in_index} is out of range for '
                f'{len(out_indices)} backbone levels')
        stage = out_indices[self.in_index]
        copied = names[stage + 1:]
        stages = [getattr(backbone, n) for n in copied]
        expected = in_channels
        if expected is None:
            chans = self.context.get('feat_channels') or []
            if -len(chans) <= self.in_index < len(chans) and \
                    chans[self.in_index] is not None:
                expected = int(chans[self.in_index])
        first_in = None
        if stages:
            block = stages[0][0]
            conv = getattr(block, 'conv1', None)
            first_in = getattr(conv, 'in_channels', None)
        if expected is not None and first_in is not None and \
                int(expected) != int(first_in):
            raise ValueError(
                f'RotationHead: level {self.in_index} has {expected} '
                f'channels but the copied stage {copied[0]} expects '
                f'{first_in} (does a neck change the channels?)')
        level_channels = expected if expected is not None else first_in
        if stages:
            out_channels = int(backbone.feat_dim)
        else:
            if level_channels is None:
                raise ValueError('RotationHead: the channels of level '
                                 f'{self.in_index} are unknown; give '
                                 'in_channels')
            out_channels = int(level_channels)
        if level_channels is None:
            level_channels = out_channels
        del backbone  # the remaining stages are dropped
        return tuple(copied), stages, out_channels, int(level_channels)

    # --------------------------------------------------------------- views
    def views(self, inputs: Tensor,
              generator: Optional[torch.Generator] = None) -> dict:
        """Rotated square crops of the batch and their rotation labels."""
        B, _, H, W = inputs.shape
        side = min(H, W) if self.crop_size is None else min(
            self.crop_size, H, W)
        if self.crop == 'center':
            top, left = (H - side) // 2, (W - side) // 2
            crops = inputs[:, :, top:top + side, left:left + side]
        else:
            tops = _randint(H - side + 1, (B, ), generator).tolist()
            lefts = _randint(W - side + 1, (B, ), generator).tolist()
            crops = torch.stack([
                inputs[i, :, t:t + side, l:l + side]
                for i, (t, l) in enumerate(zip(tops, lefts))
            ])
        if self.rotations == 'expand':
            views = torch.cat([
                torch.rot90(crops, k, dims=(2, 3))
                for k in range(NUM_ROTATIONS)
            ])
            labels = torch.arange(NUM_ROTATIONS).repeat_interleave(B)
        else:
            labels = _randint(NUM_ROTATIONS, (B, ), generator)
            views = torch.stack([
                torch.rot90(crops[i], int(k), dims=(1, 2))
                for i, k in enumerate(labels.tolist())
            ])
        return dict(inputs=views.contiguous(),
                    labels=labels.to(inputs.device))

    # ------------------------------------------------------------- forward
    def forward(self, x: Tensor, views: Optional[dict] = None,
                **kwargs) -> Dict[str, Tensor]:
        """The remaining stages, pooling and the rotation classifier on the
        level-``in_index`` features of the views."""
        if views is None or 'labels' not in views:
            raise ValueError('RotationHead.forward needs the views (rotated '
                             'crops and labels) from RotationHead.views')
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'RotationHead: expected (N, {self.in_channels}'
                             f', h, w) features, got {tuple(x.shape)}')
        for name in self.stage_names:
            x = getattr(self, name)(x)
        logits = self.fc(x.mean(dim=(2, 3)))
        return dict(logits=logits, labels=views['labels'])

    @staticmethod
    def rotation_loss(outputs: Dict[str, Tensor]) -> Tensor:
        """Cross-entropy of the rotation prediction (mean over views)."""
        return F.cross_entropy(outputs['logits'], outputs['labels'])

    def loss(self, outputs: Dict[str, Tensor], gts: Dict[str, Tensor],
             model, inputs: Tensor) -> Dict[str, Tensor]:
        return dict(loss_rotation=self.loss_weight *
                    self.rotation_loss(outputs))
