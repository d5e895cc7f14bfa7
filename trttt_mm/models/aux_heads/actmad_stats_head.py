"""ActMAD's source statistics: per-location moments of every batch-norm
output of the main branch (Mirza et al., CVPR 2023)."""
import re
import weakref
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmseg.registry import MODELS

from .base import BaseAuxHead

#: Parts of the segmentor whose batch-norm layers ActMAD matches (the main
#: branch; other auxiliary heads are left out).
MAIN_PARTS = ('backbone', 'neck', 'decode_head')
_MEAN, _VAR, _COUNT = 'mean__', 'var__', 'stats_batches'


def main_branch_bn_layers(model: nn.Module,
                          layers: Optional[str] = None
                          ) -> List[Tuple[str, nn.Module]]:
    """``(name, module)`` of every ``_BatchNorm`` (SyncBN included) of the
    segmentor's backbone, neck and decode head, in module order.

    Args:
        model: The segmentor (unwrapped).
        layers: Optional regular expression; only names it matches (with
            ``re.search``) are kept.
    """
    pattern = re.compile(layers) if layers else None
    found = []
    for part in MAIN_PARTS:
        module = getattr(model, part, None)
        if module is None:
            continue
        for name, m in module.named_modules():
            if not isinstance(m, nn.modules.batchnorm._BatchNorm):
                continue
            full = f'{part}.{name}' if name else part
            if pattern is None or pattern.search(full):
                found.append((full, m))
    return found


def _key(name: str) -> str:
    if '__' in name:
        raise ValueError(f'ActMADStatsHead: layer name {name!r} contains '
                         "'__', which the buffer names use as separator")
    return name.replace('.', '__')


@MODELS.register_module()
class ActMADStatsHead(BaseAuxHead):
    """Per-location mean and variance of the output of every batch-norm
    layer of the main branch over the source training set (ActMAD's
    "clean" statistics), kept as buffers of the model.

    It has no parameters and no source loss. One pass over the source data in
    eval mode (``tools/analysis/source_stats.py CONFIG CKPT --out NEW.pth``
    for an existing checkpoint, or :class:`SourceStatsHook` at the end of
    training) fills, for each layer ``L`` (its module name with ``.`` written
    ``__``), ``mean__L`` and ``var__L`` of shape ``(C, H, W)`` plus
    ``stats_batches``. As in the official code (``SaveEmb`` in
    ``jmiemirza/ActMAD`` ``utils/utils.py``), each batch contributes the mean
    and the unbiased variance over its samples at every location, and the
    stored statistics are the averages of these per-batch moments over the
    batches (every batch weighs the same).

    The maps' sizes are known only after the pass, so the buffers do not exist
    in a freshly built head: adding the head to the config of an existing
    checkpoint keeps that checkpoint loadable, and a checkpoint that holds
    statistics creates them when it is loaded (strictly) into a fresh model.

    Batches whose maps differ in size from the first batch's (a source set of
    images of several sizes) are resized (bilinear) to the first batch's grid
    before they are added. Batches of one image have no variance and are
    skipped.

    Args:
        layers: Optional regular expression on the layer names (e.g.
            ``'^backbone\\.layer4'``; the KITTI experiments of the official
            code match only the last layers); default every batch-norm layer
            of the backbone, neck and decode head.
        context: Filled in by the segmentor.
    """

    has_source_stats = True

    def __init__(self, layers: Optional[str] = None,
                 context: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(source='shared', loss_weight=0.0, context=context,
                         init_cfg=init_cfg)
        if layers is not None:
            if not isinstance(layers, str) or not layers:
                raise ValueError('ActMADStatsHead.layers must be a non-empty '
                                 f'regular expression or None, got {layers!r}')
            try:
                re.compile(layers)
            except re.error as e:
                raise ValueError(f'ActMADStatsHead.layers: {layers!r} is not '
                                 f'a valid regular expression ({e})') from e
        self.layers = layers
        # Follows the model's device (not saved): new statistics buffers are
        # created where the model is.
        self.register_buffer('_device_anchor', torch.zeros(0),
                             persistent=False)
        self._model_ref = None
        self._handles = []
        self._batch: Dict[str, Tensor] = {}
        self._sums = None

    # ------------------------------------------------------------- forward
    def forward(self, x: Tensor, views: Optional[dict] = None,
                **kwargs) -> Dict[str, Tensor]:
        """Nothing during training or test. During a statistics pass (after
        :meth:`stats_begin`) it runs the task decoders on the shared latent
        ``x``, so that their batch-norm layers are seen even when the pass
        does not ask for the main branch."""
        model = self._model_ref() if self._model_ref is not None else None
        if self._sums is not None and model is not None:
            model.decode_head.decode(x)
        return {}

    def bn_layers(self, model: nn.Module) -> List[Tuple[str, nn.Module]]:
        """The layers this head keeps statistics of."""
        return main_branch_bn_layers(model, self.layers)

    # --------------------------------------------------- source statistics
    def stats_begin(self, model) -> None:
        self._remove_handles()
        layers = self.bn_layers(model)
        if not layers:
            raise ValueError(
                'ActMADStatsHead: the model has no batch-norm layer in its '
                'backbone, neck or decode head' +
                (f' matching layers={self.layers!r}' if self.layers else ''))
        self._model_ref = weakref.ref(model)
        self._sums = dict(batches=0, skipped=0, mean={}, var={})
        self._batch = {}
        for name, m in layers:
            _key(name)
            self._handles.append(m.register_forward_hook(
                self._recorder(name)))

    def _recorder(self, name: str):
        def record(module, inputs, output):
            self._batch[name] = output.detach()
        return record

    def stats_update(self, outputs: Dict[str, Tensor]) -> None:
        if self._sums is None:
            raise RuntimeError('ActMADStatsHead: stats_update before '
                               'stats_begin')
        batch, self._batch = self._batch, {}
        if not batch:
            raise RuntimeError('ActMADStatsHead: no batch-norm output was '
                               'recorded in this pass')
        if next(iter(batch.values())).shape[0] < 2:
            self._sums['skipped'] += 1
            return
        for name, out in batch.items():
            if out.dim() != 4:
                raise ValueError(
                    f'ActMADStatsHead: layer {name} gave a {out.dim()}-D '
                    'output; per-location statistics need (B, C, H, W)')
            out = out.double()
            mean, var = out.mean(dim=0), out.var(dim=0, unbiased=True)
            sums_m, sums_v = self._sums['mean'], self._sums['var']
            if name in sums_m and sums_m[name].shape != mean.shape:
                size = tuple(sums_m[name].shape[1:])
                mean = _resize(mean, size)
                var = _resize(var, size)
            if name in sums_m:
                sums_m[name] += mean
                sums_v[name] += var
            else:
                sums_m[name], sums_v[name] = mean.clone(), var.clone()
        self._sums['batches'] += 1

    def stats_end(self) -> None:
        sums = self._sums
        self._remove_handles()
        self._sums, self._model_ref = None, None
        if sums is None or sums['batches'] == 0:
            raise RuntimeError(
                'ActMADStatsHead: the statistics pass saw no batch of at '
                f'least 2 images ({sums["skipped"] if sums else 0} batches of '
                'one image skipped)')
        self._drop_stats()
        n = sums['batches']
        for name in sums['mean']:
            k = _key(name)
            dev = self._device_anchor.device
            self.register_buffer(_MEAN + k,
                                 (sums['mean'][name] / n).float().to(dev))
            self.register_buffer(_VAR + k,
                                 (sums['var'][name] / n).float().to(dev))
        self.register_buffer(_COUNT, torch.tensor(
            float(n), dtype=torch.float64, device=self._device_anchor.device))

    def stats_ready(self) -> bool:
        count = self._buffers.get(_COUNT)
        return count is not None and bool(count > 0) and bool(
            self.layer_names())

    def _remove_handles(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def _drop_stats(self) -> None:
        for name in list(self._buffers):
            if name.startswith((_MEAN, _VAR)) or name == _COUNT:
                del self._buffers[name]

    # ------------------------------------------------------------- access
    def layer_names(self) -> List[str]:
        """Names of the layers that have statistics (module order of the
        buffers)."""
        return [k[len(_MEAN):].replace('__', '.') for k in self._buffers
                if k.startswith(_MEAN)]

    def source_stats(self, name: str) -> Tuple[Tensor, Tensor]:
        """``(mean, var)`` maps ``(C, H, W)`` of layer ``name``."""
        k = _key(name)
        if _MEAN + k not in self._buffers:
            raise KeyError(f'ActMADStatsHead: no statistics of layer {name!r}'
                           f'; it has {self.layer_names()}')
        return self._buffers[_MEAN + k], self._buffers[_VAR + k]

    # ------------------------------------------------ loading (lazy shapes)
    def prepare_state_dict(self, state: Dict[str, Tensor],
                           prefix: str = '') -> None:
        """Make this head's statistics buffers match those in ``state``
        (create them with the incoming shapes, drop those it lacks), so that
        a strict key/shape comparison and load succeed. Called by
        ``trttt_mm.utils.checkpoint.load_weights`` before it compares."""
        incoming = {k[len(prefix):]: v for k, v in state.items()
                    if k.startswith(prefix)}
        for name in list(self._buffers):
            if (name.startswith((_MEAN, _VAR)) or name == _COUNT) \
                    and name not in incoming:
                del self._buffers[name]
        self._materialize(incoming)

    def _materialize(self, incoming: Dict[str, Tensor]) -> None:
        for name, value in incoming.items():
            if not (name.startswith((_MEAN, _VAR)) or name == _COUNT):
                continue
            if not isinstance(value, Tensor):
                continue
            own = self._buffers.get(name)
            if own is None or own.shape != value.shape:
                self.register_buffer(
                    name, torch.zeros(value.shape, dtype=value.dtype,
                                      device=self._device_anchor.device))

    def _load_from_state_dict(self, state_dict, prefix, local_metadata,
                              strict, missing_keys, unexpected_keys,
                              error_msgs):
        self._materialize({k[len(prefix):]: v for k, v in state_dict.items()
                           if k.startswith(prefix)
                           and '.' not in k[len(prefix):]})
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)


def _resize(stat: Tensor, size) -> Tensor:
    """Bilinear resize of a ``(C, H, W)`` statistics map (anti-aliased when
    it shrinks)."""
    return F.interpolate(stat[None], size=tuple(size), mode='bilinear',
                         align_corners=False, antialias=True)[0]
