"""ActMAD (Mirza et al., CVPR 2023): align the per-location moments of the
batch-norm outputs on the test batch with those of the source data."""
from typing import Dict, List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log

from mmseg.registry import HOOKS

from ...models.aux_heads import ActMADStatsHead
from ...models.segmentors.plain_adapter import call_branches
from .ttt_hook import BaseTTTHook

#: How source maps of another size than the target's are matched.
SIZE_POLICIES = ('resize', 'error')


@HOOKS.register_module()
class ActMADHook(BaseTTTHook):
    """Activation matching, as the official ``jmiemirza/ActMAD``
    (``methods/actmad_cifar.py``, ``methods/actmad_kitti.py``) does it, on a
    dense multi-task model.

    Needs an :class:`ActMADStatsHead` with statistics (a checkpoint from a
    config that adds the head, its statistics filled by
    ``tools/analysis/source_stats.py`` or :class:`SourceStatsHook`).

    For each layer ``l`` the head has statistics of (every batch-norm layer
    of the backbone, neck and decode head by default), the output of the
    layer on the test batch gives a per-location mean ``μ_l^t`` and
    unbiased variance ``σ²_l^t`` over the batch (``(C, H, W)`` maps), and

    ``loss = Σ_l L1(μ_l^t, μ_l^s) + Σ_l L1(σ²_l^t, σ²_l^s)``

    (L1 = mean absolute difference over the map's elements), as the official
    KITTI code; the CIFAR code halves it (``loss_scale=0.5``). Norm layers in
    eval mode (source running statistics), all parameters, SGD momentum 0.9,
    Nesterov, weight decay 5e-4, lr 1e-4 (the official KITTI value; CIFAR-10
    1e-2, CIFAR-100 1e-3, ImageNet 2.5e-4), one step per batch, online.

    Image sizes: when a layer's test map is ``(h, w)`` and the source map
    ``(H, W)`` differs, the source mean and variance maps are resized to
    ``(h, w)`` (bilinear, anti-aliased when shrinking; the variance stays
    non-negative) with ``size_mismatch='resize'``; ``'error'`` refuses.
    A different number of channels, or a layer without statistics, is an
    error. A batch of one image has no variance over the batch: it is not
    adapted (on every process together under DDP) and predicted as it is.

    Parameters the objective cannot reach (those after the last matched
    layer, e.g. the classifier) never get a gradient; the hook freezes them
    at set-up (found from the autograd graph of one forward of a small zero
    batch, norm layers on their running statistics, so nothing changes) and
    gives them back after the test. A single process computes the same
    (SGD skips a parameter without a gradient); under DDP this is what lets
    the second update run (DDP expects a gradient for every trainable
    parameter the forward's outputs use).

    Args:
        size_mismatch: One of :data:`SIZE_POLICIES`.
        Others: see :class:`BaseTTTHook`.
    """

    head_type = ActMADStatsHead
    required_branches = ('main', )

    def __init__(self,
                 size_mismatch: str = 'resize',
                 steps: int = 1,
                 optimizer: Optional[dict] = None,
                 params: str = 'all',
                 norm_mode: str = 'eval',
                 **kwargs):
        super().__init__(
            steps=steps,
            optimizer=optimizer or dict(type='SGD', lr=1e-4, momentum=0.9,
                                        nesterov=True, weight_decay=5e-4),
            params=params, norm_mode=norm_mode, **kwargs)
        if size_mismatch not in SIZE_POLICIES:
            raise ValueError(f'ActMADHook.size_mismatch must be one of '
                             f'{SIZE_POLICIES}, got {size_mismatch!r}')
        self.size_mismatch = size_mismatch

    # ----------------------------------------------------------- set-up
    def setup(self, runner, model: nn.Module) -> None:
        super().setup(runner, model)
        head = model.aux_heads[self.head_name]
        if not head.stats_ready():
            raise RuntimeError(
                f'ActMADHook: the auxiliary head {self.head_name!r} holds no '
                'source statistics. Fill them with one pass over the source '
                'training data: python tools/analysis/source_stats.py CONFIG '
                'CHECKPOINT --out NEW.pth (then test NEW.pth), or train with '
                "SourceStatsHook in custom_hooks (configs/baselines/actmad/).")
        device = next(model.parameters()).device
        head.to(device)
        layers = dict(head.bn_layers(model))
        names = head.layer_names()
        unknown = [n for n in names if n not in layers]
        if unknown:
            raise RuntimeError(
                f'ActMADHook: the statistics name layers {unknown[:5]} that '
                'are not batch-norm layers of this model (statistics of '
                'another model?)')
        missing = [n for n in layers if n not in names]
        if missing:
            raise RuntimeError(
                f'ActMADHook: no source statistics of the layers '
                f'{missing[:5]} ({len(missing)} in all); recompute them with '
                'tools/analysis/source_stats.py for this model')
        self._layers: List[str] = names
        self._captured: Optional[Dict[str, torch.Tensor]] = None
        self._resized: Dict[tuple, tuple] = {}
        self._handles = [
            layers[n].register_forward_hook(self._recorder(n)) for n in names
        ]
        self._frozen = self._freeze_unreachable(runner, model)

    def _freeze_unreachable(self, runner, model: nn.Module
                            ) -> List[nn.Parameter]:
        """Freeze the trainable parameters that no matched layer's output
        depends on; returns them (given back by :meth:`teardown`).

        One forward of a zero batch (2 images of 64x64) through the
        unwrapped model in eval mode (batch-norm layers on their running
        statistics: no buffer moves) and the gradient of the sum of the
        recorded outputs: a parameter with none is unreachable.
        """
        conv = next((m for m in model.modules()
                     if isinstance(m, nn.Conv2d)), None)
        channels = conv.in_channels if conv is not None else 3
        device = next(model.parameters()).device
        dummy = torch.zeros(2, channels, 64, 64, device=device)
        trainable = [p for p in model.parameters() if p.requires_grad]
        # the unwrapped model (a plain segmentor's adapter runs through it)
        unwrapped = self._unwrap(runner.model) if runner is not None \
            else getattr(model, 'segmentor', model)
        modes = {m: m.training for m in (*model.modules(),
                                         *unwrapped.modules())}
        unwrapped.eval()
        model.eval()
        self._captured = {}
        try:
            with torch.enable_grad():
                call_branches(unwrapped, model, dummy, ('main', ))
                total = sum(t.float().sum() for t in self._captured.values()
                            if t.requires_grad)
                grads = torch.autograd.grad(total, trainable,
                                            allow_unused=True) \
                    if torch.is_tensor(total) else [None] * len(trainable)
        finally:
            self._captured = None
            for m, flag in modes.items():
                m.training = flag
        frozen = [p for p, g in zip(trainable, grads) if g is None]
        for p in frozen:
            p.requires_grad_(False)
        if frozen:
            print_log(f'[ActMADHook] {len(frozen)} parameter tensors after '
                      'the last matched layer get no gradient from the '
                      'objective: frozen during the test', logger='current')
        return frozen

    def _recorder(self, name: str):
        def record(module, inputs, output):
            if self._captured is not None:
                self._captured[name] = output
        return record

    def teardown(self, runner, model: nn.Module) -> None:
        for h in self._handles:
            h.remove()
        for p in getattr(self, '_frozen', ()):
            p.requires_grad_(True)
        self._handles, self._resized, self._captured = [], {}, None
        self._frozen = []
        super().teardown(runner, model)

    def _source(self, name: str, size: tuple, channels: int):
        key = (name, size)
        if key in self._resized:
            return self._resized[key]
        mean, var = self.head_module.source_stats(name)
        if mean.shape[0] != channels:
            raise RuntimeError(
                f'ActMADHook: layer {name} has {channels} channels but its '
                f'source statistics {mean.shape[0]}')
        if tuple(mean.shape[1:]) != size:
            if self.size_mismatch == 'error':
                raise RuntimeError(
                    f'ActMADHook: layer {name} gives {size} maps on this '
                    f'batch, its source statistics are '
                    f'{tuple(mean.shape[1:])} (test images of another size '
                    "than the source's); size_mismatch='resize' resizes the "
                    'source maps')
            mean, var = (F.interpolate(s[None], size=size, mode='bilinear',
                                       align_corners=False,
                                       antialias=True)[0]
                         for s in (mean, var))
        self._resized[key] = (mean, var)
        return mean, var

    # ---------------------------------------------------------- objective
    def ttt_loss(self, forward, inputs: torch.Tensor, data_samples: list,
                 generator: torch.Generator) -> Dict[str, torch.Tensor]:
        if inputs.shape[0] < 2:
            raise ValueError('ActMADHook: the per-location variance over the '
                             'batch needs at least 2 images, got '
                             f'{inputs.shape[0]}')
        self._captured = {}
        try:
            forward(inputs, branches=('main', ))
            captured = self._captured
        finally:
            self._captured = None
        loss_mean = inputs.new_zeros(())
        loss_var = inputs.new_zeros(())
        for name in self._layers:
            if name not in captured:
                raise RuntimeError(f'ActMADHook: layer {name} did not run in '
                                   'the forward pass')
            out = captured[name]
            mean_t = out.mean(dim=0)
            var_t = out.var(dim=0, unbiased=True)
            mean_s, var_s = self._source(name, tuple(out.shape[2:]),
                                         out.shape[1])
            loss_mean = loss_mean + F.l1_loss(mean_t, mean_s.to(out.dtype))
            loss_var = loss_var + F.l1_loss(var_t, var_s.to(out.dtype))
        return dict(loss_mean=loss_mean, loss_var=loss_var)

    def _adapt(self, runner, model: nn.Module, data_batch) -> List[float]:
        small = len(data_batch['inputs']) < 2
        if self._any_rank(small, self._device):
            print_log('[ActMADHook] a batch of one image (here or on another '
                      'process): no variance over the batch, not adapted',
                      logger='current', level=30)
            return []
        return super()._adapt(runner, model, data_batch)
