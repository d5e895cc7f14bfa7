"""Test-time normalisation: batch-norm layers use target statistics, no
gradient, no parameter change (the "BN adapt" control of TTA papers)."""
import numbers
from typing import Optional

import torch
import torch.nn as nn
from mmengine.logging import print_log

from mmseg.registry import HOOKS

from .norm_policy import running_bn_layers
from ...models.segmentors.plain_adapter import call_branches
from .ttt_hook import BATCH_LOSSES_KEY, BaseTTTHook

#: Statistics modes of :class:`NormStatsHook`.
NORM_STATS_MODES = ('batch', 'mix', 'ema')


@HOOKS.register_module()
class NormStatsHook(BaseTTTHook):
    """Normalise with target statistics instead of the source's.

    Modes (``mode``):

    * ``'batch'`` (BN-1; Schneider et al. 2020, Nado et al. 2020): every
      test batch is normalised with its own statistics (mean and biased
      variance over batch and pixels, as a batch-norm layer in training
      mode); the running statistics are not used and do not move.
    * ``'mix'`` (BN-α; Schneider et al. 2020): each layer normalises with
      ``α·target + (1 − α)·source``, target being the mean and unbiased
      variance of the layer's input in this batch (as
      ``AlphaBatchNorm`` of ``mariodoebler/test-time-adaptation``), source
      the checkpoint's running statistics.
    * ``'ema'``: running statistics updated over the stream: before a batch
      is predicted, ``passes`` forward passes without gradient in training
      mode with batch-norm momentum ``momentum`` move the running statistics
      towards the batch's; the batch is then predicted with them (eval
      mode). With ``reset='online'`` they carry over from batch to batch;
      ``'episodic'`` starts every batch from the source statistics (then
      ``passes=1`` equals BN-α with ``α = momentum``, up to the
      normalisation inside the pass).

    TR-TTT run with a learning rate of 0 and ``steps=S`` moves only the
    batch-norm statistics: that equals ``mode='ema'`` with ``passes=S`` and
    ``momentum=0.1`` (PyTorch's default) — the control of the method.

    No parameter changes. The checkpoint on disk is never touched; with
    ``restore_after`` (default) the source statistics come back in memory
    after the test, and ``'batch'``/``'mix'`` always put them back.

    Args:
        mode: One of :data:`NORM_STATS_MODES`.
        alpha: Weight of the target statistics in ``'mix'`` (0..1; 0.1 as
            in ``mariodoebler/test-time-adaptation``'s BN-α default).
        momentum: Batch-norm momentum of the ``'ema'`` passes (0..1].
        passes: Forward passes per batch in ``'ema'`` (integer >= 1).
        reset: ``'online'``, ``'episodic'`` or ``'single_batch'`` (the
            statistics are updated on the first batch only; ``'ema'``).
        restore_after: Put the source statistics back after the test.
        log_interval, seed: See :class:`BaseTTTHook`.

    Statistics are computed over every pixel of the padded batch (as a
    batch-norm layer does), per process under DDP (SyncBN layers too).
    """

    head_type = None
    required_branches = ('main', )

    def __init__(self,
                 mode: str = 'ema',
                 alpha: float = 0.1,
                 momentum: float = 0.1,
                 passes: int = 1,
                 reset: str = 'online',
                 restore_after: bool = True,
                 log_interval: int = 1,
                 seed: Optional[int] = 0,
                 **kwargs):
        where = 'NormStatsHook'
        for key in ('steps', 'optimizer', 'params', 'loss_scale',
                    'grad_clip', 'norm_mode', 'predict_norm_mode',
                    'norm_scope', 'head'):
            if key in kwargs:
                raise TypeError(
                    f'{where} takes no gradient steps and changes no '
                    f'parameter: {key!r} does not apply (see its mode, '
                    'alpha, momentum, passes)')
        super().__init__(steps=0, reset=reset, restore_after=restore_after,
                         log_interval=log_interval, seed=seed, **kwargs)
        if mode not in NORM_STATS_MODES:
            raise ValueError(f'{where}.mode: unknown mode {mode!r}; expected '
                             f'one of {NORM_STATS_MODES}')
        for name, value, low_open in (('alpha', alpha, False),
                                      ('momentum', momentum, True)):
            if isinstance(value, bool) or not isinstance(
                    value, numbers.Real) or not (
                        (0 < value <= 1) if low_open else (0 <= value <= 1)):
                bound = '(0, 1]' if low_open else '[0, 1]'
                raise ValueError(f'{where}.{name} must be a number in '
                                 f'{bound}, got {value!r}')
        if isinstance(passes, bool) or not isinstance(
                passes, numbers.Integral) or passes < 1:
            raise ValueError(f'{where}.passes must be an integer >= 1, got '
                             f'{passes!r}')
        self.mode = mode
        self.alpha = float(alpha)
        self.momentum = float(momentum)
        self.passes = int(passes)

    # The base class's optimizer machinery has nothing to do here.
    def _select_params(self, model: nn.Module) -> list:
        return []

    def _build_optimizer(self, model: nn.Module):
        return None

    def ttt_loss(self, forward, inputs, data_samples, generator):
        raise RuntimeError('NormStatsHook has no test-time loss (it only '
                           'changes normalisation statistics)')

    # ----------------------------------------------------------- set-up
    def setup(self, runner, model: nn.Module) -> None:
        super().setup(runner, model)
        layers = running_bn_layers(model)
        if not layers:
            raise ValueError(
                'NormStatsHook needs batch-norm layers with running '
                'statistics (track_running_stats=True); this model '
                f'({type(model).__name__}) has none')
        self._layers = layers
        self._momenta = [m.momentum for m in layers]
        self._source = [(m.running_mean.detach().clone(),
                         m.running_var.detach().clone(),
                         None if m.num_batches_tracked is None else
                         m.num_batches_tracked.detach().clone())
                        for m in layers]
        self._handles = []
        if self.mode == 'mix':
            for m, (mean, var, _) in zip(layers, self._source):
                self._handles.append(m.register_forward_pre_hook(
                    self._mixer(mean, var)))
        self._update_batch = True

    def _mixer(self, src_mean: torch.Tensor, src_var: torch.Tensor):
        alpha = self.alpha

        def mix(module, args):
            x = args[0]
            dims = [0] + list(range(2, x.dim()))
            with torch.no_grad():
                mean = x.mean(dim=dims)
                var = x.var(dim=dims, unbiased=True)
                module.running_mean.copy_(alpha * mean +
                                          (1 - alpha) * src_mean)
                module.running_var.copy_(alpha * var + (1 - alpha) * src_var)

        return mix

    def teardown(self, runner, model: nn.Module) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
        for m, momentum in zip(self._layers, self._momenta):
            m.momentum = momentum
        if self.mode in ('batch', 'mix'):
            for m, (mean, var, count) in zip(self._layers, self._source):
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
                if count is not None:
                    m.num_batches_tracked.copy_(count)
        super().teardown(runner, model)

    @torch.no_grad()
    def statistics_passes(self, forward, model: nn.Module,
                          inputs: torch.Tensor) -> None:
        """The ``'ema'`` update of one batch: ``passes`` forward passes
        ``forward(inputs)`` without gradient, batch-norm layers in training
        mode with the hook's momentum (nothing in the other modes)."""
        if self.mode != 'ema':
            return
        model.eval()
        for m in self._layers:
            m.momentum = self.momentum
            m.train()
        try:
            for _ in range(self.passes):
                forward(inputs)
        finally:
            for m, momentum in zip(self._layers, self._momenta):
                m.momentum = momentum

    # ------------------------------------------------------------- hooks
    def before_test_iter(self, runner, batch_idx: int,
                         data_batch=None) -> None:
        model = self._unwrap(runner.model)
        if self.reset == 'episodic':
            model.load_state_dict(self._source_state)
        update = not (self.reset == 'single_batch' and batch_idx > 0)
        if self.mode == 'ema' and update:
            self._ema_passes(runner, model, data_batch)
        model.eval()
        if self.mode == 'batch':
            # Training-mode normalisation (batch statistics) with momentum 0:
            # the running statistics stay as they are.
            for m in self._layers:
                m.momentum = 0.0
                m.train()
        runner.message_hub.update_info(BATCH_LOSSES_KEY, [], resumed=False)

    def _ema_passes(self, runner, model: nn.Module, data_batch) -> None:
        data = model.data_preprocessor(data_batch, False)
        before = [(m.running_mean.clone(), m.running_var.clone(),
                   None if m.num_batches_tracked is None else
                   m.num_batches_tracked.clone()) for m in self._layers]

        def forward(inputs):
            # through the wrapper, as every forward of the hooks
            return call_branches(runner.model, self.model, inputs, ('main', ))

        self.statistics_passes(forward, model, data['inputs'])
        if not self._buffers_finite(model):
            for m, (mean, var, count) in zip(self._layers, before):
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
                if count is not None:
                    m.num_batches_tracked.copy_(count)
            self.nonfinite_skips += 1
            print_log(
                '[NormStatsHook] non-finite statistics after the passes; '
                'the statistics the batch started with restored '
                f'({self.nonfinite_skips} so far)', logger='current',
                level=30)
