"""The norm-layer policy of the test-time hooks: which norm layers normalise
with the statistics of the test batch, whether running statistics move, and
how that is undone.

Every test-time-training hook (:class:`BaseTTTHook` and its methods) holds one
:class:`NormPolicy`, built from its arguments ``norm_mode``,
``predict_norm_mode`` and ``norm_scope`` and the method's choice of running
statistics; the hook puts the model in the policy's modes before adapting and
before predicting (:meth:`NormPolicy.apply`).
"""
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn

#: The norm layers the policy drives.
NORM_TYPES = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm,
              nn.modules.instancenorm._InstanceNorm)
#: Modes of the norm layers while adapting / predicting: ``'train'`` (the
#: layers of the scope normalise with batch statistics) or ``'eval'``.
NORM_MODES = ('train', 'eval')
#: Which norm layers the ``'train'`` mode puts in training mode: those
#: holding adapted parameters, those of the backbone, or every one.
NORM_SCOPES = ('adapted', 'encoder', 'model')
#: What happens to the running statistics of the batch-norm layers:
#: ``'update'`` (PyTorch's: a layer in training mode normalises with the
#: batch's statistics and moves its running statistics with its momentum) or
#: ``'forget'`` (TENT: running statistics dropped for the test, so every
#: batch-norm layer normalises with the batch's statistics in both modes and
#: nothing moves; restored after the test).
RUNNING_STATS = ('update', 'forget')


def norm_layers(model: nn.Module) -> List[nn.Module]:
    """Every norm layer of ``model`` (:data:`NORM_TYPES`), in module order."""
    return [m for m in model.modules() if isinstance(m, NORM_TYPES)]


def running_bn_layers(model: nn.Module) -> List[nn.Module]:
    """Every ``_BatchNorm`` (SyncBN included) that keeps running statistics."""
    return [m for m in model.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm)
            and m.track_running_stats and m.running_mean is not None]


def norm_buffers(model: nn.Module) -> List[torch.Tensor]:
    """The buffers of every norm layer (running statistics, batch counts and
    whatever a method registers on them): all a forward pass can change in a
    model whose only training-mode modules are norm layers."""
    return [b for m in norm_layers(model) for b in m.buffers(recurse=False)
            if b is not None]


class NormPolicy:
    """How a test-time hook treats the norm layers.

    * **Which layers normalise with batch statistics.** In mode ``'train'``
      the layers of ``scope`` are in training mode (batch statistics), every
      other module of the model in eval mode; in mode ``'eval'`` the whole
      model is in eval mode. ``adapt`` is the mode while adapting,
      ``predict`` while the adapted model predicts the batch. ``scope`` is
      ``'model'`` (every norm layer), ``'encoder'`` (those of the backbone)
      or ``'adapted'`` (those holding adapted parameters: a module that does
      not adapt never moves its statistics on the method's views). A method
      may set individual layers after the scope (``overrides`` of
      :meth:`apply`, e.g. NC-TTT's discriminator).
    * **Whether running statistics move.** With ``running_stats='update'`` a
      batch-norm layer in training mode moves its running statistics with
      its momentum at every forward pass (its other forward passes: eval
      mode, source statistics). With ``'forget'`` (TENT) :meth:`prepare`
      drops the running statistics of every batch-norm layer
      (``track_running_stats=False``), so they normalise with the batch's
      statistics in both modes and nothing moves.
    * **How it is undone.** Moved running statistics are buffers of the
      model: the hook's reset policy (``'episodic'``: before every batch),
      its collapse guard (a rolled-back batch, :func:`norm_buffers`) and
      ``restore_after`` (after the test) put them back with the weights.
      :meth:`restore` undoes :meth:`prepare` after the test.

    Args:
        adapt: Mode while adapting (:data:`NORM_MODES`).
        predict: Mode while predicting.
        scope: One of :data:`NORM_SCOPES`.
        running_stats: One of :data:`RUNNING_STATS`.
        where: Name used in error messages (the hook's class).
    """

    def __init__(self,
                 adapt: str = 'train',
                 predict: str = 'eval',
                 scope: str = 'model',
                 running_stats: str = 'update',
                 where: str = 'NormPolicy'):
        for name, value in (('norm_mode', adapt),
                            ('predict_norm_mode', predict)):
            if value not in NORM_MODES:
                raise ValueError(f"{where}.{name} must be 'train' or 'eval', "
                                 f'got {value!r}')
        if scope not in NORM_SCOPES:
            raise ValueError(f'{where}.norm_scope must be one of '
                             f'{NORM_SCOPES}, got {scope!r}')
        if running_stats not in RUNNING_STATS:
            raise ValueError(f'{where}: running statistics must be one of '
                             f'{RUNNING_STATS}, got {running_stats!r}')
        self.adapt = adapt
        self.predict = predict
        self.scope = scope
        self.running_stats = running_stats
        self.where = where
        self._forgotten: list = []

    def __repr__(self) -> str:
        return (f'NormPolicy(adapt={self.adapt!r}, predict={self.predict!r}, '
                f'scope={self.scope!r}, running_stats='
                f'{self.running_stats!r})')

    # ----------------------------------------------------------- set-up
    def prepare(self, model: nn.Module) -> None:
        """Configure the model for the test (``'forget'``: drop the running
        statistics of every batch-norm layer); undone by :meth:`restore`."""
        if self.running_stats != 'forget':
            return
        layers = [m for m in model.modules()
                  if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        self._forgotten = [(m, m.track_running_stats, m.running_mean,
                            m.running_var) for m in layers]
        for m in layers:
            m.track_running_stats = False
            m.running_mean = None
            m.running_var = None

    def restore(self, model: nn.Module) -> None:
        """Undo :meth:`prepare`."""
        for m, track, mean, var in self._forgotten:
            m.track_running_stats = track
            m.running_mean = mean
            m.running_var = var
        self._forgotten = []

    # ------------------------------------------------------------ modes
    def batch_stat_layers(self, model: nn.Module,
                          params: Sequence[nn.Parameter] = ()
                          ) -> List[nn.Module]:
        """The norm layers that mode ``'train'`` puts in training mode, given
        the adapted parameters ``params`` (scope ``'adapted'``)."""
        layers = norm_layers(model)
        if self.scope == 'model':
            return layers
        if self.scope == 'encoder':
            inside = {id(m) for m in model.backbone.modules()}
            return [m for m in layers if id(m) in inside]
        chosen = {id(p) for p in params}
        return [m for m in layers
                if any(id(p) in chosen for p in m.parameters(recurse=False))]

    def apply(self, model: nn.Module, mode: str,
              params: Sequence[nn.Parameter] = (),
              overrides: Optional[Dict[nn.Module, bool]] = None) -> None:
        """Put ``model`` in ``mode`` (``'train'``/``'eval'``, see above).

        Args:
            model: The (unwrapped) model.
            mode: ``'train'`` or ``'eval'``.
            params: The adapted parameters (scope ``'adapted'``).
            overrides: ``{norm layer: training?}`` set after the scope in
                mode ``'train'``.
        """
        if mode not in NORM_MODES:
            raise ValueError(f"{self.where}: norm mode must be 'train' or "
                             f"'eval', got {mode!r}")
        model.eval()
        if mode != 'train':
            return
        for m in self.batch_stat_layers(model, params):
            m.train()
        for m, training in (overrides or {}).items():
            m.train(bool(training))
