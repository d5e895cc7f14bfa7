"""Adapting "the encoder up to stage k" (TTTFlow, ClusT3, NC-TTT).

The official codes of these methods optimise ``conv1 ... layerk`` of a
ResNet and leave the rest of the network alone. :class:`EncoderStageTTTHook`
gives their hooks that choice as ``adapt_up_to=k`` (the stem plus
``backbone.layer1 ... layerk``; default: the stage the method's head reads)
instead of a parameter regex, and masks the preprocessor's padding out of
the dense test-time objectives (``mask_padding``). Which norm layers use
batch statistics while adapting is the norm policy's ``norm_scope``
(:class:`~.norm_policy.NormPolicy`), ``'adapted'`` by default here.
"""
import re
from typing import List, Optional, Tuple

import torch
import torch.nn as nn

# feature_valid_mask and NORM_SCOPES lived here before objectives.py and
# norm_policy.py
from .norm_policy import NORM_SCOPES  # noqa: F401
from .objectives import feature_valid_mask
from .ttt_hook import BaseTTTHook, _check_int

_LAYER = re.compile(r'^layer(\d+)$')


def backbone_stages(model: nn.Module) -> Tuple[List[str], List[int]]:
    """Names of the backbone's stem modules and its stage numbers.

    A ResNet-style backbone (mmseg's ResNet/ResNetV1c family, timm-style
    ResNets) has children ``layer1 ... layerN`` and a stem (``stem`` or
    ``conv1``/``bn1``...).

    Raises:
        ValueError: when the backbone has no ``layerN`` children.
    """
    stem, stages = [], []
    for name, child in model.backbone.named_children():
        if not any(True for _ in child.parameters()):
            continue
        m = _LAYER.match(name)
        if m:
            stages.append(int(m.group(1)))
        else:
            stem.append(name)
    if not stages:
        raise ValueError(
            f'adapt_up_to: the backbone {type(model.backbone).__name__} has '
            'no stages named layer1..layerN; give params=REGEX instead')
    return stem, sorted(stages)


def encoder_stage_regex(model: nn.Module, stage: int) -> str:
    """Parameter regex of the stem and ``backbone.layer1 ... layer<stage>``."""
    stem, stages = backbone_stages(model)
    if stage not in stages:
        raise ValueError(f'adapt_up_to={stage}: the backbone has the stages '
                         f'{stages}')
    names = stem + [f'layer{s}' for s in stages if s <= stage]
    return r'^backbone\.(' + '|'.join(re.escape(n) for n in names) + r')\.'


def stage_of_level(model: nn.Module, level: int, where: str) -> int:
    """The backbone stage (1-based ``layerN``) whose output is feature level
    ``level`` of ``model.extract_feat``."""
    if getattr(model, 'neck', None) is not None:
        raise ValueError(
            f'{where}: the model has a neck, so feature level {level} is no '
            'backbone stage; give adapt_up_to=K or params=REGEX')
    out_indices = getattr(model.backbone, 'out_indices', None)
    if out_indices is None:
        raise ValueError(f'{where}: cannot tell which stage feature level '
                         f'{level} comes from (the backbone has no '
                         'out_indices); give adapt_up_to=K or params=REGEX')
    out_indices = list(out_indices)
    try:
        return int(out_indices[level]) + 1
    except IndexError:
        raise ValueError(f'{where}: feature level {level} is out of range for '
                         f'out_indices {out_indices}') from None


class EncoderStageTTTHook(BaseTTTHook):
    """A test-time hook that adapts the encoder up to a stage.

    Args:
        adapt_up_to: Adapt the stem and ``backbone.layer1 ... layer<k>``
            (default: :meth:`default_stage`). Not together with ``params``.
        params: A parameter set of :class:`BaseTTTHook` (``'all'``,
            ``'norm'``, ``'encoder'`` or a regex) instead of the stages.
        norm_scope: With ``norm_mode='train'``, which norm layers use batch
            statistics while adapting: ``'adapted'`` (those holding adapted
            parameters), ``'encoder'`` (the whole backbone) or ``'model'``
            (every norm layer). The others stay in eval mode, so their
            running statistics do not move.
        mask_padding: Leave the preprocessor's padding out of the objective.
        Others: see :class:`BaseTTTHook`.
    """

    def __init__(self,
                 adapt_up_to: Optional[int] = None,
                 params: Optional[str] = None,
                 norm_scope: str = 'adapted',
                 mask_padding: bool = True,
                 **kwargs):
        where = type(self).__name__
        if params is not None and adapt_up_to is not None:
            raise ValueError(f'{where}: give adapt_up_to or params, not both '
                             f'(got adapt_up_to={adapt_up_to!r}, '
                             f'params={params!r}); with --cfg-options set '
                             f'ttt.{where}.adapt_up_to=None to use params')
        if adapt_up_to is not None:
            adapt_up_to = _check_int(f'{where}.adapt_up_to', adapt_up_to, 1)
        super().__init__(params='encoder' if params is None else params,
                         norm_scope=norm_scope, **kwargs)
        self.by_stage = params is None
        self.adapt_up_to = adapt_up_to
        self.mask_padding = bool(mask_padding)

    def default_stage(self, model: nn.Module) -> int:
        """The stage adapted without ``adapt_up_to``: the one the method's
        head reads."""
        head = model.aux_heads[self.head_name]
        return stage_of_level(model, head.in_index, type(self).__name__)

    def _select_params(self, model: nn.Module) -> List[nn.Parameter]:
        if self.by_stage:
            stage = self.adapt_up_to or self.default_stage(model)
            self.adapted_stage = stage
            self.params = encoder_stage_regex(model, stage)
        return super()._select_params(model)

    def valid_mask(self, inputs: torch.Tensor, data_samples,
                   size) -> Optional[torch.Tensor]:
        """Valid feature positions (None: all, or ``mask_padding`` off)."""
        if not self.mask_padding:
            return None
        return feature_valid_mask(inputs, data_samples, size)
