"""Hooks that plant faults, for tests (imported through custom_imports)."""
from mmengine.dist import get_rank

from mmseg.registry import HOOKS
from trttt_mm.engine.hooks import TRTTTHook


@HOOKS.register_module(force=True)
class NaNOnRankOneHook(TRTTTHook):
    """TR-TTT whose loss is NaN on rank 1 only (rank 0 stays finite)."""

    def ttt_loss(self, forward, inputs, data_samples, generator):
        losses = super().ttt_loss(forward, inputs, data_samples, generator)
        if get_rank() == 1:
            losses['loss_semseg'] = losses['loss_semseg'] * float('nan')
        return losses
