"""Test-time training on a plain mmseg segmentor, through one small adapter.

The test-time hooks talk to a model through a small interface
(docs/architecture.md, "Model interface for test-time objectives"): its
``tasks``, ``available_branches()``, ``aux_heads``, ``forward_branches``
reached through the runner's (possibly DDP-wrapped) model, and ``activate``.
:class:`~trttt_mm.models.MultiTaskEncoderDecoder` implements it itself.
:class:`PlainSegmentorAdapter` gives it to mmseg's own ``EncoderDecoder`` and
``CascadeEncoderDecoder``, as they are built from the user's config:

* one task, ``semseg``, and one branch, ``main``: the segmentation logits
  at the input size, as mmseg's ``encode_decode`` computes them;
* no trained auxiliary head. The only heads it carries are heads of source
  statistics that observe the main pass (:data:`PLAIN_HEAD_TYPES`, e.g.
  ActMAD's), kept *beside* the weights in the checkpoint under
  :data:`PLAIN_AUX_HEADS_KEY` (``tools/analysis/source_stats.py`` writes
  them), so the segmentor's state dict stays the user's.

Nothing is patched into mmseg: the adapter is a plain object that holds the
segmentor and answers every other attribute with the segmentor's
(``parameters()``, ``state_dict()``, ``backbone``, ``data_preprocessor``...),
so the hooks' resets, parameter choices and norm-layer modes act on the
segmentor itself. The forward goes through the runner's model in mmseg's
``mode='tensor'`` (so a DDP wrapper sees it and all-reduces the gradients),
and the final decode head's own ``predict_by_feat`` resizes the logits to
the input size: that is ``encode_decode`` for every decode head that keeps
``BaseDecodeHead.predict``, which the adapter checks.
"""
from typing import Callable, Dict, Optional, Sequence

import torch.nn as nn
from mmengine.model import ModuleDict
from torch import Tensor

from mmseg.models.decode_heads.cascade_decode_head import \
    BaseCascadeDecodeHead
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.segmentors import CascadeEncoderDecoder, EncoderDecoder
from mmseg.registry import MODELS

from ...tasks import activate as _activate
from ..aux_heads import ActMADStatsHead

MAIN = 'main'
#: The task of a plain segmentor's main branch.
PLAIN_TASK = 'semseg'
#: Top-level checkpoint key of a plain segmentor's auxiliary heads:
#: ``{name: dict(cfg=<head config>, state_dict=<its tensors>)}``.
PLAIN_AUX_HEADS_KEY = 'trttt_plain_aux_heads'
#: Heads a plain segmentor can carry: they add no branch of their own and
#: read the main pass through forward hooks (no trained weights).
PLAIN_HEAD_TYPES = (ActMADStatsHead, )
#: The statistics heads ``tools/analysis/source_stats.py`` fills for a plain
#: segmentor when its config has no ``plain_aux_heads`` entry.
DEFAULT_PLAIN_AUX_HEADS = dict(actmad=dict(type='ActMADStatsHead'))
#: The mmseg segmentors whose forward the adapter reproduces.
SUPPORTED_SEGMENTORS = (EncoderDecoder, CascadeEncoderDecoder)
_SUPPORTED_NAMES = 'EncoderDecoder / CascadeEncoderDecoder'


def _owner(cls: type, name: str) -> type:
    """The class of ``cls``'s MRO that defines ``name``."""
    for klass in cls.__mro__:
        if name in vars(klass):
            return klass
    raise AttributeError(name)


def final_decode_head(segmentor: nn.Module) -> nn.Module:
    """The decode head whose output is the segmentation (the last stage of a
    cascade)."""
    head = segmentor.decode_head
    return head[-1] if isinstance(head, nn.ModuleList) else head


def check_plain_segmentor(segmentor: nn.Module,
                          where: str = 'test-time training') -> None:
    """Raise a clear error unless the adapter supports ``segmentor``.

    Supported: mmseg's ``EncoderDecoder`` and ``CascadeEncoderDecoder`` and
    subclasses that keep their forward (``extract_feat``, ``encode_decode``,
    ``_forward``), whose final decode head keeps the ``predict`` of
    ``BaseDecodeHead`` (or ``BaseCascadeDecodeHead``) and its
    ``predict_by_feat``, and predicts ``num_classes >= 2`` softmax logits.

    Raises:
        TypeError: naming the model and what it lacks.
    """
    name = type(segmentor).__name__
    if not isinstance(segmentor, EncoderDecoder):
        raise TypeError(
            f'{where} needs a segmentor with test-time branches: trttt_mm\'s '
            f'MultiTaskEncoderDecoder (forward_branches), or a plain mmseg '
            f'{_SUPPORTED_NAMES} through PlainSegmentorAdapter; got {name}, '
            'which is neither (no forward_branches, not an EncoderDecoder)')
    base = CascadeEncoderDecoder if isinstance(
        segmentor, CascadeEncoderDecoder) else EncoderDecoder
    for method in ('extract_feat', 'encode_decode', '_forward'):
        owner = _owner(type(segmentor), method)
        if owner not in (base, EncoderDecoder):
            raise TypeError(
                f'{where}: {name} overrides {method} ({owner.__name__}); '
                'PlainSegmentorAdapter computes the main branch as mmseg\'s '
                f'{base.__name__} does (tensor mode, then the decode head\'s '
                'resize), which would not be what this model predicts. '
                f'Supported: mmseg\'s {_SUPPORTED_NAMES} and '
                'MultiTaskEncoderDecoder')
    head = final_decode_head(segmentor)
    head_name = type(head).__name__
    if not isinstance(head, BaseDecodeHead):
        raise TypeError(f'{where}: the decode head of {name} is a '
                        f'{head_name}, not an mmseg BaseDecodeHead')
    # their predict is forward (+ prev_output in a cascade), then
    # predict_by_feat
    keep = dict(predict=(BaseDecodeHead, BaseCascadeDecodeHead),
                predict_by_feat=(BaseDecodeHead, ))
    for method, owners in keep.items():
        if _owner(type(head), method) not in owners:
            raise TypeError(
                f'{where}: the decode head {head_name} overrides {method}, '
                'so its prediction is not its forward resized to the input '
                '(what PlainSegmentorAdapter uses as the main branch); '
                'decode heads that keep BaseDecodeHead.predict are '
                'supported')
    if int(getattr(segmentor, 'out_channels', 2)) < 2:
        raise TypeError(
            f'{where}: {name} predicts one channel (binary segmentation '
            'with a sigmoid, out_channels=1); the head-free objectives need '
            'softmax logits over num_classes >= 2')


class PlainSegmentorAdapter:
    """Give a plain mmseg segmentor the interface of the test-time hooks.

    Args:
        segmentor: An mmseg ``EncoderDecoder`` or ``CascadeEncoderDecoder``
            (unwrapped; see :func:`check_plain_segmentor`).
        aux_heads: ``{name: head config}`` of statistics heads to build
            empty (:data:`PLAIN_HEAD_TYPES`; ``source_stats.py`` fills them).
        where: Who asks (named in errors).

    Attributes the adapter does not define are the segmentor's.
    """

    def __init__(self,
                 segmentor: nn.Module,
                 aux_heads: Optional[Dict[str, dict]] = None,
                 where: str = 'test-time training'):
        check_plain_segmentor(segmentor, where)
        self.segmentor = segmentor
        self.where = where
        self.tasks = (PLAIN_TASK, )
        self.aux_heads = ModuleDict()
        self._head_cfgs: Dict[str, dict] = {}
        for name, cfg in (aux_heads or {}).items():
            self.add_aux_head(name, cfg)

    def __getattr__(self, name: str):
        # only called for names the adapter does not define
        if name == 'segmentor':  # not set yet (e.g. while unpickling)
            raise AttributeError(name)
        return getattr(self.segmentor, name)

    def __repr__(self) -> str:
        return (f'PlainSegmentorAdapter({type(self.segmentor).__name__}, '
                f'aux_heads={list(self.aux_heads.keys())})')

    # ------------------------------------------------------- auxiliary heads
    def add_aux_head(self, name: str, cfg: dict) -> nn.Module:
        """Build the statistics head ``name`` from ``cfg`` (empty)."""
        if not isinstance(name, str) or not name.isidentifier() \
                or name == MAIN:
            raise ValueError(f'{self.where}: invalid auxiliary head name '
                             f'{name!r}; expected a Python identifier other '
                             f'than {MAIN!r}')
        if not isinstance(cfg, dict) or 'type' not in cfg:
            raise ValueError(f'{self.where}: auxiliary head {name!r} needs a '
                             f'config dict with a type, got {cfg!r}')
        cls = MODELS.get(cfg['type'])
        if not (isinstance(cls, type) and issubclass(cls, PLAIN_HEAD_TYPES)):
            kinds = ', '.join(c.__name__ for c in PLAIN_HEAD_TYPES)
            raise ValueError(
                f'{self.where}: a plain mmseg segmentor can carry only '
                f'heads of source statistics that observe its main pass '
                f'({kinds}); {name!r} is a {cfg["type"]}, which needs '
                'trained weights or a branch of its own: use '
                'MultiTaskEncoderDecoder with aux_heads for it')
        head = MODELS.build(dict(cfg))
        param = next(iter(self.segmentor.parameters()), None)
        if param is not None:  # where the segmentor is
            head.to(param.device)
        self.aux_heads[name] = head
        self._head_cfgs[name] = dict(cfg)
        return head

    def load_aux_heads(self, entry: dict, source: str = 'the checkpoint'
                       ) -> None:
        """Rebuild the heads of a checkpoint's :data:`PLAIN_AUX_HEADS_KEY`
        entry (``{name: dict(cfg=..., state_dict=...)}``), strictly."""
        if not isinstance(entry, dict):
            raise ValueError(f'{source}: {PLAIN_AUX_HEADS_KEY} must be a dict '
                             f'of head name -> dict(cfg, state_dict), got '
                             f'{type(entry).__name__}')
        for name, item in entry.items():
            if not isinstance(item, dict) or not {'cfg', 'state_dict'} <= set(
                    item):
                raise ValueError(
                    f'{source}: {PLAIN_AUX_HEADS_KEY}[{name!r}] must be '
                    f'dict(cfg=..., state_dict=...), got {item!r:.200}')
            head = self.add_aux_head(name, dict(item['cfg']))
            state = dict(item['state_dict'])
            prepare = getattr(head, 'prepare_state_dict', None)
            if callable(prepare):
                prepare(state, '')
            try:
                head.load_state_dict(state, strict=True)
            except RuntimeError as e:
                raise ValueError(f'{source}: {PLAIN_AUX_HEADS_KEY}[{name!r}] '
                                 f'does not fit its head: {e}') from e

    def aux_heads_state(self, names: Optional[Sequence[str]] = None) -> dict:
        """The :data:`PLAIN_AUX_HEADS_KEY` entry of the heads ``names`` (all
        by default): configs and CPU tensors, weights-only loadable."""
        names = list(self.aux_heads.keys()) if names is None else names
        return {
            n: dict(cfg=dict(self._head_cfgs[n]),
                    state_dict={k: v.detach().cpu() for k, v in
                                self.aux_heads[n].state_dict().items()})
            for n in names
        }

    def missing_head_advice(self, kind: str) -> str:
        """What to run when a method needs a ``kind`` head this adapter
        lacks."""
        return (f'a plain mmseg segmentor carries a {kind} beside its weights '
                f'(checkpoint key {PLAIN_AUX_HEADS_KEY!r}): run python '
                'tools/analysis/source_stats.py CONFIG CHECKPOINT --out '
                'NEW.pth, then test NEW.pth')

    # ----------------------------------------------------------- interface
    def available_branches(self) -> tuple:
        """``'main'`` and the statistics heads' names."""
        return (MAIN, ) + tuple(self.aux_heads.keys())

    @staticmethod
    def activate(task: str, raw: Tensor) -> Tensor:
        """Map a raw output to its prediction space (softmax for semseg)."""
        return _activate(task, raw)

    def forward_branches(self, inputs: Tensor,
                         branches: Sequence[str] = (MAIN, ),
                         mask=None, generator=None) -> dict:
        """:meth:`forward_branches_with` the segmentor itself (no wrapper;
        for passes without gradients, e.g. source statistics)."""
        return self.forward_branches_with(self.segmentor, inputs, branches)

    def forward_branches_with(self, caller: Callable, inputs: Tensor,
                              branches: Sequence[str] = (MAIN, )) -> dict:
        """Run the main pass through ``caller`` (the runner's model, or the
        segmentor) and return the requested branches.

        Returns:
            ``dict(main={'semseg': logits})`` (``(B, num_classes, H, W)`` at
            the input size) when ``'main'`` is requested, and ``{}`` for each
            statistics head (they record the pass through forward hooks).
        """
        if isinstance(branches, str):
            branches = (branches, )
        have = self.available_branches()
        missing = [b for b in branches if b not in have]
        if missing:
            raise ValueError(
                f'forward_branches: this model has no branch {missing}; it '
                f'has {have}')
        logits = caller(inputs, None, mode='tensor')
        if not isinstance(logits, Tensor) or logits.dim() != 4:
            raise TypeError(
                f'{self.where}: {type(self.segmentor).__name__} in tensor '
                f'mode returned {type(logits).__name__}, not (B, C, h, w) '
                'logits')
        out = {}
        if MAIN in branches:
            size = tuple(inputs.shape[2:])
            meta = dict(img_shape=size, pad_shape=size, ori_shape=size)
            out[MAIN] = {
                PLAIN_TASK: final_decode_head(self.segmentor).predict_by_feat(
                    logits, [meta] * inputs.shape[0])
            }
        for name in branches:
            if name != MAIN:
                out[name] = {}
        return out


def as_branch_model(model: nn.Module,
                    plain_aux_heads: Optional[dict] = None,
                    where: str = 'test-time training'):
    """The model the test-time machinery talks to: ``model`` itself when it
    has ``forward_branches`` (MultiTaskEncoderDecoder), else a
    :class:`PlainSegmentorAdapter` of it with the heads of a checkpoint's
    :data:`PLAIN_AUX_HEADS_KEY` entry ``plain_aux_heads``.

    Raises:
        TypeError: when the model is neither (naming what it lacks).
    """
    if isinstance(model, PlainSegmentorAdapter) or callable(
            getattr(model, 'forward_branches', None)):
        return model
    adapter = PlainSegmentorAdapter(model, where=where)
    if plain_aux_heads:
        adapter.load_aux_heads(plain_aux_heads)
    return adapter


def call_branches(runner_model: nn.Module, model, inputs: Tensor,
                  branches: Sequence[str] = (MAIN, ), mask=None,
                  generator=None) -> dict:
    """Run ``model``'s branches through ``runner_model`` (the runner's model,
    possibly DDP-wrapped, so that the wrapper sees the forward).

    Args:
        runner_model: ``runner.model``.
        model: What :func:`as_branch_model` returned for it.
        inputs, branches, mask, generator: As ``forward_branches``.
    """
    if isinstance(model, PlainSegmentorAdapter):
        return model.forward_branches_with(runner_model, inputs, branches)
    return runner_model(inputs, None, mode='branches', branches=branches,
                        mask=mask, generator=generator)
