"""Multi-task encoder-decoder with the optional TR-TTT branches."""
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from torch import Tensor

from mmseg.models.segmentors.base import BaseSegmentor
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from ..data_preprocessors.multi_task_preprocessor import stack_gts

BRANCHES = ('main', 'tp', 'trl')


@MODELS.register_module()
class MultiTaskEncoderDecoder(BaseSegmentor):
    """Shared encoder, multi-task decoder and the optional TR-TTT branches.

    ``backbone`` (any mmseg backbone) → optional ``neck`` → ``decode_head``
    (:class:`MultiTaskHead`: fuses the levels into the shared latent z, then
    one decoder per task). With ``projection`` (:class:`TaskProjectionNeck`) z
    is projected to task latents z_i, each with its own y_i^TP output; with
    ``relation`` (:class:`TaskRelationLearner`) the masked latents predict
    every task (y_i^TRL). Training loss (paper eq. 7):
    ``L_main + λ_TRL·L_TRL + λ_TP·L_TP``.

    Without ``projection`` the TRL reads the shared latent z as a single
    input group (ablation "TRL alone"). ``trl_target='image'`` makes the TRL
    reconstruct the (normalised) input image instead of the task labels
    (ablation "image reconstruction").

    Test-time objectives use :meth:`forward_branches` and :meth:`activate`
    only (see docs/architecture.md).

    Args:
        backbone: mmseg backbone config.
        decode_head: :class:`MultiTaskHead` config.
        neck: Optional neck config applied to the backbone outputs.
        projection: Optional :class:`TaskProjectionNeck` config. Its
            ``in_channels`` and ``out_channels`` are filled from the head.
        relation: Optional :class:`TaskRelationLearner` config. Its
            ``in_channels``, ``num_inputs`` and ``out_channels`` are filled in.
        loss_weights: ``dict(tp=λ_TP, trl=λ_TRL)`` (reference: 0.01 each).
        trl_target: ``'tasks'`` or ``'image'``.
    """

    def __init__(self,
                 backbone: dict,
                 decode_head: dict,
                 neck: Optional[dict] = None,
                 projection: Optional[dict] = None,
                 relation: Optional[dict] = None,
                 loss_weights: Optional[dict] = None,
                 trl_target: str = 'tasks',
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 pretrained: Optional[str] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        if pretrained is not None:
            backbone = dict(backbone)
            backbone['init_cfg'] = dict(type='Pretrained',
                                        checkpoint=pretrained)
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck) if neck is not None else None
        self.decode_head = MODELS.build(decode_head)
        self.tasks = tuple(self.decode_head.tasks)
        self.align_corners = self.decode_head.align_corners
        if trl_target not in ('tasks', 'image'):
            raise ValueError(f"trl_target must be 'tasks' or 'image', got "
                             f'{trl_target!r}')
        self.trl_target = trl_target
        weights = dict(tp=0.01, trl=0.01)
        weights.update(loss_weights or {})
        unknown = set(weights) - {'tp', 'trl'}
        if unknown:
            raise ValueError(f'loss_weights: unknown keys {sorted(unknown)}; '
                             "expected 'tp' and/or 'trl'")
        self.loss_weights = weights

        self.projection = None
        if projection is not None:
            projection = dict(projection)
            projection.setdefault('in_channels', self.decode_head.channels)
            projection.setdefault('out_channels',
                                  dict(self.decode_head.out_channels))
            self.projection = MODELS.build(projection)
        self.relation = None
        if relation is not None:
            relation = dict(relation)
            if self.projection is not None:
                relation.setdefault('in_channels',
                                    self.projection.latent_channels)
                relation.setdefault('num_inputs', len(self.tasks))
            else:
                relation.setdefault('in_channels', self.decode_head.channels)
                relation.setdefault('num_inputs', 1)
            relation.setdefault(
                'out_channels',
                dict(image=3) if trl_target == 'image' else dict(
                    self.decode_head.out_channels))
            self.relation = MODELS.build(relation)
        elif trl_target == 'image':
            raise ValueError("trl_target='image' needs a relation module")
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg

    # ------------------------------------------------------------- features
    def extract_feat(self, inputs: Tensor) -> List[Tensor]:
        """Backbone (+ neck) features."""
        x = self.backbone(inputs)
        if self.neck is not None:
            x = self.neck(x)
        return list(x)

    def _resize(self, out: Dict[str, Tensor], size) -> Dict[str, Tensor]:
        return {
            k: (v if v.shape[2:] == tuple(size) else F.interpolate(
                v, size=size, mode='bilinear',
                align_corners=self.align_corners))
            for k, v in out.items()
        }

    def available_branches(self) -> tuple:
        """The branches this model can compute."""
        names = ['main']
        if self.projection is not None:
            names.append('tp')
        if self.relation is not None:
            names.append('trl')
        return tuple(names)

    def forward_branches(self,
                         inputs: Tensor,
                         branches: Sequence[str] = ('main', ),
                         mask=None,
                         generator: Optional[torch.Generator] = None) -> dict:
        """Run the shared encoder once and the requested branches.

        Args:
            inputs: Normalised, padded images (B, 3, H, W).
            branches: Any of ``'main'``, ``'tp'``, ``'trl'``.
            mask: Passed to the TRL (``None``: its own masking strategy,
                ``False``: no masking, or a bool tensor).
            generator: Random generator for the TRL mask.

        Returns:
            dict with ``feats``, ``shared`` and one ``{task: raw output at
            input size}`` dict per branch (``trl_mask`` with ``trl``).
        """
        unknown = [b for b in branches if b not in BRANCHES]
        missing = [
            b for b in branches
            if b in BRANCHES and b not in self.available_branches()
        ]
        if unknown or missing:
            raise ValueError(
                f'forward_branches: unknown branches {unknown} / branches '
                f'this model lacks {missing}; it has '
                f'{self.available_branches()}')
        size = inputs.shape[2:]
        feats = self.extract_feat(inputs)
        z = self.decode_head.fuse(feats)
        out = dict(feats=feats, shared=z)
        if 'main' in branches:
            out['main'] = self._resize(self.decode_head.decode(z), size)
        latents = None
        if self.projection is not None and ('tp' in branches
                                            or 'trl' in branches):
            proj = self.projection(z)
            latents = proj['latents']
            out['latents'] = latents
            if 'tp' in branches:
                out['tp'] = self._resize(proj['tp'], size)
        if 'trl' in branches:
            if latents is None:
                latents = z.unsqueeze(1)
            rel = self.relation(latents, out_size=tuple(size), mask=mask,
                                generator=generator)
            out['trl'] = rel['preds']
            out['trl_mask'] = rel['mask']
        return out

    @staticmethod
    def activate(task: str, raw: Tensor) -> Tensor:
        """Map a raw output to its prediction space."""
        if task == 'semseg':
            return raw.softmax(dim=1)
        if task == 'normal':
            return F.normalize(raw, dim=1, eps=1e-6)
        if task == 'edge':
            return raw.sigmoid()
        return raw

    # ---------------------------------------------------- BaseSegmentor API
    def forward(self, inputs: Tensor, data_samples=None, mode: str = 'tensor',
                **kwargs):
        """mmseg's modes plus ``mode='branches'`` (→ :meth:`forward_branches`).

        Test-time hooks call the model through ``runner.model`` with
        ``mode='branches'`` so that a DDP wrapper sees the forward and
        all-reduces the gradients.
        """
        if mode == 'branches':
            return self.forward_branches(inputs, **kwargs)
        return super().forward(inputs, data_samples, mode)

    def encode_decode(self, inputs: Tensor,
                      batch_img_metas: List[dict]) -> Dict[str, Tensor]:
        """Raw main outputs at input size."""
        return self.forward_branches(inputs, ('main', ))['main']

    def _forward(self, inputs: Tensor, data_samples=None) -> Dict[str, Tensor]:
        return self.encode_decode(inputs, None)

    def loss(self, inputs: Tensor, data_samples: List[SegDataSample]) -> dict:
        branches = self.available_branches()
        out = self.forward_branches(inputs, branches)
        gts = stack_gts(data_samples, self.tasks)
        if not gts:
            raise ValueError('loss: the batch carries no ground truth for any '
                             f'of the tasks {self.tasks}')
        losses = self.decode_head.loss_by_task(out['main'], gts)
        if 'tp' in out:
            for k, v in self.decode_head.loss_by_task(out['tp'], gts,
                                                      'tp.').items():
                losses[k] = v * self.loss_weights['tp']
        if 'trl' in out:
            if self.trl_target == 'image':
                losses['trl.loss_image'] = self.loss_weights['trl'] * (
                    out['trl']['image'] - inputs).abs().mean()
            else:
                for k, v in self.decode_head.loss_by_task(
                        out['trl'], gts, 'trl.').items():
                    losses[k] = v * self.loss_weights['trl']
        return losses

    def predict(self, inputs: Tensor,
                data_samples: Optional[List[SegDataSample]] = None
                ) -> List[SegDataSample]:
        outputs = self.forward_branches(inputs, ('main', ))['main']
        return self.postprocess_result(outputs, data_samples, inputs)

    def postprocess_result(self, outputs: Dict[str, Tensor],
                           data_samples: Optional[List[SegDataSample]],
                           inputs: Optional[Tensor] = None
                           ) -> List[SegDataSample]:
        """Undo padding, flip and resize; store activated predictions."""
        batch_size = next(iter(outputs.values())).shape[0]
        if data_samples is None:
            h, w = next(iter(outputs.values())).shape[2:]
            data_samples = [
                SegDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w)))
                for _ in range(batch_size)
            ]
        for i, ds in enumerate(data_samples):
            meta = ds.metainfo
            h, w = meta.get('img_shape', outputs[self.tasks[0]].shape[2:])
            ori = meta.get('ori_shape', (h, w))
            flip = meta.get('flip', False)
            direction = meta.get('flip_direction', 'horizontal')
            preds = {}
            for task, raw in outputs.items():
                x = raw[i:i + 1, :, :h, :w]
                if flip:
                    dims = (3, ) if direction == 'horizontal' else (2, )
                    x = x.flip(dims=dims)
                    if task == 'normal':
                        sign = torch.ones(3, 1, 1, device=x.device)
                        sign[0 if direction == 'horizontal' else 1] = -1
                        x = x * sign
                if tuple(x.shape[2:]) != tuple(ori):
                    x = F.interpolate(x, size=tuple(ori), mode='bilinear',
                                      align_corners=self.align_corners)
                preds[task] = x[0]
            new = {}
            if 'semseg' in preds:
                logits = preds['semseg']
                new['seg_logits'] = PixelData(data=logits)
                new['pred_sem_seg'] = PixelData(
                    data=logits.argmax(dim=0, keepdim=True))
            if 'depth' in preds:
                new['pred_depth_map'] = PixelData(data=preds['depth'])
            if 'normal' in preds:
                new['pred_normal_map'] = PixelData(
                    data=self.activate('normal', preds['normal'][None])[0])
            if 'edge' in preds:
                new['pred_edge_map'] = PixelData(data=preds['edge'].sigmoid())
            ds.set_data(new)
        return data_samples
