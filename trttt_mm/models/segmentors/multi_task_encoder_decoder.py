"""Multi-task encoder-decoder with optional auxiliary branches."""
import copy
from collections.abc import Sequence as SequenceABC
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import ModuleDict
from torch import Tensor

from mmseg.models.backbones import ResNet
from mmseg.models.segmentors.base import BaseSegmentor
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from ...tasks import activate as _activate
from ...tasks import flip_output, pack_prediction, stack_gts

MAIN = 'main'


def has_side_effects(module: Optional[nn.Module]) -> bool:
    """Whether running ``module`` changes something besides its output: a
    forward hook, or a submodule in training mode other than a norm layer
    without running statistics (a batch-norm layer in training mode moves
    its running statistics; dropout draws random numbers)."""
    if module is None:
        return False
    glob = nn.modules.module
    if getattr(glob, '_global_forward_hooks', None) or getattr(
            glob, '_global_forward_pre_hooks', None):
        return True
    for m in module.modules():
        if m._forward_hooks or m._forward_pre_hooks:
            return True
        if not m.training:
            continue
        if isinstance(m, nn.modules.batchnorm._NormBase):
            if m.track_running_stats and m.running_mean is not None:
                return True
        elif not isinstance(m, (nn.GroupNorm, nn.LayerNorm)):
            return True
    return False


class EncoderPass(SequenceABC):
    """The feature levels of one encoder pass over ``inputs``, computed
    stage by stage, only as deep as they are read.

    For mmseg's ResNet family without a neck (``ResNet``, ``ResNetV1c``,
    ``ResNetV1d``: stem, max-pool, ``res_layers``). Reading level ``i`` runs
    the stages up to the one it comes from (``sorted(out_indices)[i]``);
    :meth:`finish` runs the stages left whose running has an effect beyond
    their output (:func:`has_side_effects`, e.g. batch-norm layers in
    training mode moving their statistics), so skipping the rest changes
    nothing but the cost.
    """

    def __init__(self, backbone: nn.Module, inputs: Tensor):
        self._backbone = backbone
        self._x = inputs
        self._done = -2  # -2: nothing ran, -1: the stem, i: stage i
        self._stages = sorted(set(int(i) for i in backbone.out_indices))
        self._levels: Dict[int, Tensor] = {}

    @staticmethod
    def supports(backbone: nn.Module, neck) -> bool:
        """Whether the backbone can run stage by stage here."""
        return neck is None and isinstance(backbone, ResNet) and type(
            backbone).forward is ResNet.forward

    def __len__(self) -> int:
        return len(self._stages)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(len(self))[index]]
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f'feature level {index} out of range for {n} '
                             'levels')
        index %= n
        self._run_to(self._stages[index])
        return self._levels[index]

    @property
    def computed_stages(self) -> int:
        """How many stages (``res_layers``) ran so far."""
        return self._done + 1

    def _stem(self, x: Tensor) -> Tensor:
        bb = self._backbone
        if bb.deep_stem:
            x = bb.stem(x)
        else:
            x = bb.relu(bb.norm1(bb.conv1(x)))
        return bb.maxpool(x)

    def _run_to(self, stage: int) -> None:
        bb = self._backbone
        if self._done == -2:
            self._x = self._stem(self._x)
            self._done = -1
        for i in range(self._done + 1, stage + 1):
            self._x = getattr(bb, bb.res_layers[i])(self._x)
            self._done = i
            if i in self._stages:
                self._levels[self._stages.index(i)] = self._x

    def finish(self) -> None:
        """Run the stages not read whose running has side effects."""
        bb = self._backbone
        for i in reversed(range(self._done + 1, len(bb.res_layers))):
            if has_side_effects(getattr(bb, bb.res_layers[i])):
                self._run_to(i)
                return
        if self._done == -2 and any(
                has_side_effects(m) for n, m in bb.named_children()
                if n not in bb.res_layers):
            self._run_to(-1)


@MODELS.register_module()
class MultiTaskEncoderDecoder(BaseSegmentor):
    """Shared encoder, multi-task decoder and optional auxiliary branches.

    ``backbone`` (any mmseg backbone) → optional ``neck`` → ``decode_head``
    (:class:`MultiTaskHead`: fuses the levels into the shared latent z, then
    one decoder per task). ``aux_heads`` adds named auxiliary branches
    (:class:`~trttt_mm.models.aux_heads.BaseAuxHead` subclasses: TR-TTT's
    :class:`TaskRelationHead`, a baseline's rotation or contrastive head...).
    Training loss: the main per-task losses plus every auxiliary head's
    (weighted) source loss, prefixed ``<name>.``.

    Test-time objectives use :meth:`forward_branches` and :meth:`activate`
    only (see docs/architecture.md).

    Args:
        backbone: mmseg backbone config.
        decode_head: :class:`MultiTaskHead` config.
        neck: Optional neck config applied to the backbone outputs.
        aux_heads: ``dict(name=head_cfg, ...)``; each head gets a ``context``
            (channels of the backbone levels and of z, the tasks and their
            output channels) to fill the sizes it was not given.
        loss_weighting: Optional loss wrapper config, e.g.
            ``dict(type='UncertaintyWeighting')`` (its ``tasks`` default to
            the model's). :meth:`loss` passes it every loss (main and
            auxiliary; it groups them by their ``loss_<task>`` suffix) and
            returns what it returns, plus its ``log_vars()`` and the
            unweighted losses under ``raw.<key>`` (keys without ``loss``:
            logged, not summed). Its parameters belong to the model (the
            optimizer, the checkpoint, a test-time hook's ``params='all'``).
    """

    def __init__(self,
                 backbone: dict,
                 decode_head: dict,
                 neck: Optional[dict] = None,
                 aux_heads: Optional[dict] = None,
                 loss_weighting: Optional[dict] = None,
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
        self._backbone_cfg = copy.deepcopy(dict(backbone))
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck) if neck is not None else None
        self.decode_head = MODELS.build(decode_head)
        self.tasks = tuple(self.decode_head.tasks)
        self.align_corners = self.decode_head.align_corners
        # mmengine's ModuleDict, so that init_weights() reaches the heads
        # (torch's does not have init_weights, and BaseModule skips it)
        self.aux_heads = ModuleDict()
        for name, cfg in (aux_heads or {}).items():
            if cfg is None:  # a config may switch a base's head off
                continue
            if not isinstance(name, str) or not name.isidentifier() \
                    or name == MAIN:
                raise ValueError(
                    f'aux_heads: invalid head name {name!r}; expected a '
                    f"Python identifier other than {MAIN!r}")
            cfg = dict(cfg)
            cfg.setdefault('context', self.head_context())
            self.aux_heads[name] = MODELS.build(cfg)
        self.loss_weighting = None
        if loss_weighting is not None:
            loss_weighting = dict(loss_weighting)
            if loss_weighting.get('tasks') is None:
                loss_weighting['tasks'] = self.tasks
            self.loss_weighting = MODELS.build(loss_weighting)
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg

    def init_weights(self) -> None:
        """Check that every pretrained file an ``init_cfg`` names is
        reachable offline (a clear error saying where to put it,
        :func:`trttt_mm.utils.pretrained.check_pretrained_files`), then
        initialise as mmengine does."""
        from ...utils.pretrained import check_pretrained_files
        check_pretrained_files(self)
        super().init_weights()

    def head_context(self) -> dict:
        """Model facts an auxiliary head may need to size itself."""
        head = self.decode_head
        levels = max(head.in_index) + 1 if head.in_index else 0
        feat_channels = [None] * levels
        for idx, c in zip(head.in_index, head.in_channels):
            feat_channels[idx] = c
        return dict(
            feat_channels=feat_channels,
            # a head that copies part of the encoder (TTT's rotation head)
            # builds it from the same config
            backbone_cfg=copy.deepcopy(self._backbone_cfg),
            shared_channels=head.channels,
            tasks=self.tasks,
            out_channels=dict(head.out_channels),
            align_corners=self.align_corners)

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
        """The branches this model can compute: ``'main'`` and every
        auxiliary head's name."""
        return (MAIN, ) + tuple(self.aux_heads.keys())

    def aux_head(self, name: str):
        """The auxiliary head ``name`` (a clear error when absent)."""
        if name not in self.aux_heads:
            raise KeyError(f'this model has no auxiliary head {name!r}; it '
                           f'has {tuple(self.aux_heads.keys())}')
        return self.aux_heads[name]

    def encode(self, inputs: Tensor) -> Union[EncoderPass, List[Tensor]]:
        """The feature levels of ``inputs``: an :class:`EncoderPass`
        (computed as deep as read) when the backbone runs stage by stage,
        else :meth:`extract_feat`'s list."""
        if EncoderPass.supports(self.backbone, self.neck):
            return EncoderPass(self.backbone, inputs)
        return self.extract_feat(inputs)

    def _fuse_module(self) -> nn.Module:
        """The modules :meth:`MultiTaskHead.fuse` runs (the whole decode head
        when it does not say)."""
        head = self.decode_head
        return head.fuse_conv if hasattr(head, 'fuse_conv') else head

    def forward_branches(self,
                         inputs: Tensor,
                         branches: Sequence[str] = (MAIN, ),
                         mask=None,
                         generator: Optional[torch.Generator] = None) -> dict:
        """Run the shared encoder once and the requested branches.

        A head that returns its own views (:meth:`BaseAuxHead.views`) gets
        another encoder pass over them (and, as ``main_input``, what it would
        have read from the main pass); the others read the main pass.

        Only what the branches read is computed: the backbone stages up to
        the deepest level read (:class:`EncoderPass`), the shared latent z
        when the main branch or a head with ``source='shared'`` is requested,
        the task decoders for ``'main'``. A part that is not read still runs
        when running it has side effects (:func:`has_side_effects`: batch-norm
        layers in training mode move their running statistics), so the
        results are those of the full pass.

        Args:
            inputs: Normalised, padded images (B, 3, H, W).
            branches: ``'main'`` and/or auxiliary head names.
            mask: Passed to heads that mask (e.g. the TRL: ``None`` its own
                strategy, ``False`` no masking, or a bool tensor).
            generator: Random generator for masks and views.

        Returns:
            dict with ``feats`` (the feature levels: a sequence, a level not
            computed yet is computed when read), ``shared`` (z, or None when
            no branch reads it) and, per branch, ``main`` (``{task: raw
            output at input size}``) or the head's output dict.
        """
        if isinstance(branches, str):
            branches = (branches, )
        have = self.available_branches()
        missing = [b for b in branches if b not in have]
        if missing:
            raise ValueError(
                f'forward_branches: this model has no branch {missing}; it '
                f'has {have}')
        size = tuple(inputs.shape[2:])
        feats = self.encode(inputs)
        read_z = MAIN in branches or any(
            self.aux_heads[b].source == 'shared' for b in branches
            if b != MAIN)
        z = None
        if read_z or has_side_effects(self._fuse_module()):
            z = self.decode_head.fuse(feats)
        out = dict(feats=feats, shared=z)
        if MAIN in branches:
            out[MAIN] = self._resize(self.decode_head.decode(z), size)
        for name in branches:
            if name == MAIN:
                continue
            out[name] = self.forward_aux_head(name, inputs, feats, z, size,
                                              mask=mask, generator=generator)
        if isinstance(feats, EncoderPass):
            feats.finish()
        return out

    def forward_aux_head(self, name: str, inputs: Tensor,
                         feats: Sequence[Tensor], z: Optional[Tensor], size,
                         mask=None,
                         generator: Optional[torch.Generator] = None) -> dict:
        """One auxiliary head on the main pass (``feats``, ``z``) of
        ``inputs``; a head with its own views gets another encoder pass over
        them (computed as deep as the head reads, :meth:`encode`), and, as
        ``main_input``, what it would have read from the main pass. Part of
        :meth:`forward_branches`."""
        head = self.aux_heads[name]
        views = head.views(inputs, generator=generator)
        extra = {}
        if views is None:
            x = head.select_input(feats, z, inputs)
            image = inputs
        else:
            extra['main_input'] = head.select_input(feats, z, inputs)
            image = views['inputs']
            vfeats = self.encode(image)
            vz = self.decode_head.fuse(vfeats) \
                if head.source == 'shared' else None
            x = head.select_input(vfeats, vz, image)
            if isinstance(vfeats, EncoderPass):
                vfeats.finish()
        return head(x, views=views, image=image, out_size=size, mask=mask,
                    generator=generator, **extra)

    @staticmethod
    def activate(task: str, raw: Tensor) -> Tensor:
        """Map a raw output to its prediction space
        (:func:`trttt_mm.tasks.activate`)."""
        return _activate(task, raw)

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
        return self.forward_branches(inputs, (MAIN, ))[MAIN]

    def _forward(self, inputs: Tensor, data_samples=None) -> Dict[str, Tensor]:
        return self.encode_decode(inputs, None)

    def loss(self, inputs: Tensor, data_samples: List[SegDataSample]) -> dict:
        branches = self.available_branches()
        out = self.forward_branches(inputs, branches)
        gts = stack_gts(data_samples, self.tasks)
        if not gts:
            raise ValueError('loss: the batch carries no ground truth for any '
                             f'of the tasks {self.tasks}')
        losses = self.decode_head.loss_by_task(out[MAIN], gts)
        for name, head in self.aux_heads.items():
            for k, v in head.loss(out[name], gts, self, inputs).items():
                losses[f'{name}.{k}'] = v
        if self.loss_weighting is not None:
            raw = losses
            losses = self.loss_weighting(raw)
            losses.update(self.loss_weighting.log_vars())
            for k, v in raw.items():
                losses['raw.' + k.replace('loss_', '')] = v.detach()
        return losses

    def predict(self, inputs: Tensor,
                data_samples: Optional[List[SegDataSample]] = None
                ) -> List[SegDataSample]:
        outputs = self.forward_branches(inputs, (MAIN, ))[MAIN]
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
            new = {}
            for task, raw in outputs.items():
                x = raw[i:i + 1, :, :h, :w]
                if flip:
                    x = flip_output(task, x, direction)
                if tuple(x.shape[2:]) != tuple(ori):
                    x = F.interpolate(x, size=tuple(ori), mode='bilinear',
                                      align_corners=self.align_corners)
                new.update(pack_prediction(task, x[0]))
            ds.set_data(new)
        return data_samples
