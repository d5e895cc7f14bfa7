"""TTT++ (Liu et al., NeurIPS 2021): contrastive learning on the test batch
plus alignment of its feature moments to the source's."""
import numbers
from typing import Dict, Optional

import torch

from mmseg.registry import HOOKS

from ...models.aux_heads import ContrastiveProjectionHead
from ...models.aux_heads.contrastive_head import (SPACES, coral, covariance,
                                                  linear_mmd)
from .ttt_hook import BaseTTTHook, _check_positive

DIVERGENCES = ('all', 'coral', 'mmd')


class FeatureQueue:
    """FIFO of the last ``length`` feature rows (detached)."""

    def __init__(self, length: int):
        self.length = int(length)
        self.data: Optional[torch.Tensor] = None

    def reset(self) -> None:
        self.data = None

    def __len__(self) -> int:
        return 0 if self.data is None else self.data.shape[0]

    def get(self, limit: Optional[int] = None) -> Optional[torch.Tensor]:
        """The newest ``limit`` rows (all when None), or None when empty."""
        if self.data is None or self.length == 0:
            return None
        if limit is not None:
            if limit <= 0:
                return None
            return self.data[-limit:]
        return self.data

    def push(self, feats: torch.Tensor) -> None:
        if self.length == 0:
            return
        feats = feats.detach()
        data = feats if self.data is None else torch.cat([self.data, feats])
        self.data = data[-self.length:]


@HOOKS.register_module()
class TTTPlusPlusHook(BaseTTTHook):
    """TTT++ online: contrastive loss + CORAL + linear MMD.

    Per step (the official ``--method both``, ``--divergence all``,
    ``--align_ext --align_ssh``):

    * contrastive: NT-Xent over the two augmented views of the batch
      (the head's τ and scaling, :func:`nt_xent`);
    * alignment at the encoder (``ext``: pooled features of the
      un-augmented batch) and at the head (``ssh``: its raw projection):
      ``scale_s / coral_src_s · CORAL(Σ_src, Σ_tgt)`` and
      ``scale_s / mmd_src_s · mmd_factor · MMD(μ_src, μ_tgt)``, where the
      target moments come from the batch concatenated with a FIFO queue of
      the features of earlier batches (at most ``queue_size − B`` of them,
      detached) and the source moments and discrepancies ``coral_src_s``,
      ``mmd_src_s`` from the head's statistics (a source pass:
      ``tools/analysis/source_stats.py`` or :class:`SourceStatsHook`).

    Only the encoder moves (``params='encoder'``, the official
    ``--fix_ssh``); its norm layers are in train mode, the rest of the model
    in eval mode (``norm_scope='adapted'``, the official ``ext.train()``).
    The queue is emptied with the
    weights on an episodic reset. With fewer than 2 target samples (a batch
    of 1 and an empty queue) the CORAL terms are skipped for that step.

    The official protocol is offline: several epochs over the whole test
    set, no update during the first 2 (BN statistics only), the learning
    rate reduced on plateaus of the **test error** and early stopping on the
    **test error** — both read the test labels, so they are not reproduced;
    this hook adapts online, one step per batch by default.

    Args:
        steps: Updates per batch (1).
        optimizer: Default ``SGD(lr=0.01, momentum=0.9)`` (official CIFAR-10
            script).
        params: Default ``'encoder'``.
        norm_scope: Default ``'adapted'`` (see :class:`BaseTTTHook`).
        contrastive: Include the contrastive term.
        align_ext / align_ssh: Include the alignment at the encoder / head.
        divergence: ``'all'``, ``'coral'`` or ``'mmd'``.
        scale_ext / scale_ssh: Official 0.05 / 0.2 (CIFAR-10 script).
        mmd_factor: Official 0.5 (``MMD_SCALE_FACTOR``).
        queue_size: Target samples per moment estimate (batch + queue);
            default: the head's ``stats_chunk``, the sample count behind the
            source-side discrepancy (official 1536 both).
        Others: see :class:`BaseTTTHook`.
    """

    head_type = ContrastiveProjectionHead
    required_branches = ()

    def __init__(self,
                 steps: int = 1,
                 optimizer: Optional[dict] = None,
                 params: str = 'encoder',
                 reset: str = 'online',
                 norm_mode: str = 'train',
                 norm_scope: str = 'adapted',
                 contrastive: bool = True,
                 align_ext: bool = True,
                 align_ssh: bool = True,
                 divergence: str = 'all',
                 scale_ext: float = 0.05,
                 scale_ssh: float = 0.2,
                 mmd_factor: float = 0.5,
                 queue_size: Optional[int] = None,
                 **kwargs):
        super().__init__(
            steps=steps,
            optimizer=optimizer or dict(
                type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0),
            params=params, reset=reset, norm_mode=norm_mode,
            norm_scope=norm_scope, **kwargs)
        where = 'TTTPlusPlusHook'
        if divergence not in DIVERGENCES:
            raise ValueError(f'{where}.divergence must be one of '
                             f'{DIVERGENCES}, got {divergence!r}')
        if not (contrastive or align_ext or align_ssh):
            raise ValueError(f'{where}: contrastive, align_ext and align_ssh '
                             'are all off; nothing to optimise')
        if queue_size is not None and (
                isinstance(queue_size, bool)
                or not isinstance(queue_size, numbers.Integral)
                or queue_size < 1):
            raise ValueError(f'{where}.queue_size must be an integer >= 1 or '
                             f'None, got {queue_size!r}')
        self.contrastive = bool(contrastive)
        self.align = dict(ext=bool(align_ext), ssh=bool(align_ssh))
        self.divergence = divergence
        self.scales = dict(
            ext=_check_positive(f'{where}.scale_ext', scale_ext, True),
            ssh=_check_positive(f'{where}.scale_ssh', scale_ssh, True))
        self.mmd_factor = _check_positive(f'{where}.mmd_factor', mmd_factor,
                                          True)
        self.queue_size = queue_size
        self.queues = {s: FeatureQueue(0) for s in SPACES}
        self._pending = None

    # ----------------------------------------------------------------- setup
    def setup(self, runner, model) -> None:
        super().setup(runner, model)
        head = model.aux_heads[self.head_name]
        if any(self.align.values()) and not head.stats_ready():
            raise RuntimeError(
                f'TTTPlusPlusHook: the source statistics of head '
                f'{self.head_name!r} were never computed (stats_count is 0); '
                'fill them with `python tools/analysis/source_stats.py CONFIG '
                'CKPT --out NEW.pth` (or train with SourceStatsHook in '
                'custom_hooks) and test NEW.pth')
        self._reset_queues(head)

    def _reset_queues(self, head=None) -> None:
        head = head if head is not None else self.head_module
        size = self.queue_size or head.stats_chunk
        self.queues = {s: FeatureQueue(size) for s in SPACES}
        self._pending = None

    def before_test_iter(self, runner, batch_idx: int,
                         data_batch=None) -> None:
        if self.reset == 'episodic':
            self._reset_queues()
        self._pending = None
        super().before_test_iter(runner, batch_idx, data_batch)
        # the batch's features join the queue once, after its steps
        if self._pending is not None:
            for s in SPACES:
                if torch.isfinite(self._pending[s]).all():
                    self.queues[s].push(self._pending[s])
        self._pending = None

    # ------------------------------------------------------------- objective
    def _alignment(self, space: str, feats: torch.Tensor
                   ) -> Dict[str, torch.Tensor]:
        head = self.head_module
        src = head.stats(space)
        size = self.queues[space].length
        queued = self.queues[space].get(size - feats.shape[0])
        target = feats if queued is None else torch.cat(
            [feats, queued.to(feats.dtype)])
        scale = self.scales[space]
        losses = {}
        if self.divergence in ('all', 'coral') and target.shape[0] >= 2:
            cov = covariance(target)
            losses[f'loss_coral_{space}'] = coral(
                src['cov'].to(cov.dtype), cov) * (
                    scale / float(src['coral']))
        if self.divergence in ('all', 'mmd'):
            losses[f'loss_mmd_{space}'] = linear_mmd(
                src['mean'].to(target.dtype), target.mean(0)) * (
                    scale / float(src['mmd']) * self.mmd_factor)
        return losses

    def ttt_loss(self, forward, inputs: torch.Tensor, data_samples: list,
                 generator: torch.Generator) -> Dict[str, torch.Tensor]:
        name = self.head_name
        head = self.head_module
        out = forward(inputs, branches=(name, ), generator=generator)[name]
        losses = {}
        if self.contrastive:
            losses['loss_contrastive'] = head.contrastive_loss(out)
        feats = dict(ext=out['features'], ssh=out['proj'])
        for s in SPACES:
            if self.align[s]:
                losses.update(self._alignment(s, feats[s]))
        self._pending = {s: feats[s].detach() for s in SPACES}
        return losses
