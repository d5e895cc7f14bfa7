"""The contract of a source-time auxiliary head (a method's own branch).

An auxiliary head is a branch of :class:`MultiTaskEncoderDecoder` beside the
main task decoders. Baselines that train something at source time (a rotation
classifier, a contrastive projector, a flow, cluster projectors, a noise
discriminator) and TR-TTT's task projection + relation learner are all
auxiliary heads. The segmentor takes them as ``aux_heads=dict(name=cfg)``,
lists them in ``available_branches()``, computes them by name in
``forward_branches`` and adds their source losses, prefixed ``<name>.``, in
``loss()``.

A head states:

* **where it reads from** (``source``): ``'backbone'`` (the feature level
  ``in_index`` of the backbone/neck output), ``'shared'`` (the fused latent z
  of the multi-task head) or ``'image'`` (the normalised input image);
* **its own views of the input**, when it needs them (:meth:`views`): e.g.
  rotated copies with their labels, or two augmented views. The segmentor runs
  the encoder again on those views only when a head returns some;
* **its source-time loss** (:meth:`loss`), already multiplied by its weight;
* optionally **a test-time objective** (:meth:`ttt_loss`) that a hook can use;
* optionally **source statistics** (:meth:`stats_begin`,
  :meth:`stats_update`, :meth:`stats_end`): one pass over the source data
  (``tools/analysis/source_stats.py`` or :class:`SourceStatsHook`) fills the
  head's persistent buffers, so the checkpoint stays self-contained.

The segmentor passes a ``context`` dict to every head it builds (keys:
``feat_channels`` (channels of each backbone level, or None when unknown),
``shared_channels``, ``tasks``, ``out_channels`` (task → channels),
``align_corners``), from which a head fills the sizes it was not given.
"""
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.model import BaseModule
from torch import Tensor

SOURCES = ('backbone', 'shared', 'image')


class BaseAuxHead(BaseModule):
    """Base class of the auxiliary heads.

    Args:
        source: ``'backbone'``, ``'shared'`` or ``'image'`` (see the module
            docstring).
        in_index: Backbone level read with ``source='backbone'``.
        loss_weight: Multiplier of the source-time loss.
        context: Filled in by the segmentor (model facts; see above).
        init_cfg: mmengine init config.
    """

    def __init__(self,
                 source: str = 'shared',
                 in_index: int = -1,
                 loss_weight: float = 1.0,
                 context: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if source not in SOURCES:
            raise ValueError(f'{type(self).__name__}: source must be one of '
                             f'{SOURCES}, got {source!r}')
        if float(loss_weight) < 0:
            raise ValueError(f'{type(self).__name__}: loss_weight must be '
                             f'>= 0, got {loss_weight!r}')
        self.source = source
        self.in_index = int(in_index)
        self.loss_weight = float(loss_weight)
        self.context = dict(context or {})

    # ------------------------------------------------------------ what it reads
    def in_channels_from_context(self) -> int:
        """Channels of the input this head reads, from the segmentor's
        context (raises a clear error when the context cannot tell)."""
        if self.source == 'shared':
            return int(self.context['shared_channels'])
        if self.source == 'image':
            return 3
        chans = self.context.get('feat_channels')
        if not chans:
            raise ValueError(
                f'{type(self).__name__}: the channels of backbone level '
                f'{self.in_index} are unknown; give in_channels explicitly')
        try:
            return int(chans[self.in_index])
        except IndexError:
            raise ValueError(
                f'{type(self).__name__}: in_index {self.in_index} is out of '
                f'range for {len(chans)} backbone levels') from None

    def select_input(self, feats: Sequence[Tensor], shared: Optional[Tensor],
                     image: Tensor) -> Tensor:
        """The tensor this head reads from one encoder pass."""
        if self.source == 'shared':
            if shared is None:
                raise ValueError(f'{type(self).__name__}: the shared latent '
                                 'was not computed')
            return shared
        if self.source == 'image':
            return image
        if not -len(feats) <= self.in_index < len(feats):
            raise ValueError(
                f'{type(self).__name__}: in_index {self.in_index} is out of '
                f'range for {len(feats)} backbone levels')
        return feats[self.in_index]

    # -------------------------------------------------------------- own views
    def views(self, inputs: Tensor,
              generator: Optional[torch.Generator] = None) -> Optional[dict]:
        """The head's own views of a batch, or ``None`` (read the main pass).

        Returns:
            ``None``, or a dict with ``inputs`` (a ``(B', 3, H', W')`` batch
            the encoder runs on) plus whatever the head needs later (labels,
            the number of views...); it is passed back to :meth:`forward`
            as ``views``.
        """
        return None

    # --------------------------------------------------------------- forward
    def forward(self, x: Tensor, views: Optional[dict] = None,
                **kwargs) -> Dict[str, Tensor]:
        """Compute the head's outputs from its input ``x``.

        ``kwargs`` carries ``image`` (the normalised input), ``out_size``,
        ``mask`` and ``generator`` from ``forward_branches``.
        """
        raise NotImplementedError(
            f'{type(self).__name__} must implement forward')

    # ------------------------------------------------------------------ losses
    def loss(self, outputs: Dict[str, Tensor], gts: Dict[str, Tensor],
             model, inputs: Tensor) -> Dict[str, Tensor]:
        """Source-time losses (already weighted; keys contain ``'loss'``).

        Args:
            outputs: What :meth:`forward` returned for this batch.
            gts: Stacked ground truth per task (``tasks.stack_gts``).
            model: The segmentor (its ``decode_head.loss_by_task``).
            inputs: The normalised input batch.
        """
        return {}

    def ttt_loss(self, outputs: Dict[str, Tensor],
                 **kwargs) -> Dict[str, Tensor]:
        """The head's test-time objective, when it has one."""
        raise NotImplementedError(
            f'{type(self).__name__} defines no test-time objective')

    # ------------------------------------------------------- source statistics
    #: Whether this head keeps source statistics (filled by one pass over the
    #: source data, see :func:`trttt_mm.engine.collect_source_stats`).
    has_source_stats: bool = False

    @property
    def stats_min_samples(self) -> int:
        """The fewest source samples a statistics pass needs (and they must
        differ): :meth:`stats_end` raises below it."""
        return 1

    def stats_begin(self, model) -> None:
        """Reset the running sums before a statistics pass.

        ``model`` is the segmentor: a head that needs more than its own
        outputs (e.g. every norm layer's output) may register forward hooks
        on it here and remove them in :meth:`stats_end`.
        """

    def stats_update(self, outputs: Dict[str, Tensor]) -> None:
        """Add one batch (the head's forward outputs, in eval mode)."""

    def stats_end(self) -> None:
        """Turn the running sums into the stored statistics."""

    def stats_ready(self) -> bool:
        """Whether the statistics were computed (and loaded)."""
        return True

    def extra_branch_outputs(self) -> List[str]:
        """Keys of the outputs besides the head's own (for documentation)."""
        return []
