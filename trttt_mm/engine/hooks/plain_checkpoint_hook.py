"""Keep mmengine checkpoints loadable with ``torch.load(weights_only=True)``.

mmengine 0.10.7 stores ``HistoryBuffer`` objects and numpy values in the
checkpoint (message hub, meta). Under torch >= 2.6 the default weights-only
unpickler refuses them, and allow-listing them is not enough (unpickling them
also needs the builtin ``getattr``, which must never be allow-listed). So this
hook writes plain checkpoints instead: buffers become tagged dicts of lists,
numpy values become Python numbers and lists; on resume the buffers are
rebuilt. Weights-only loading stays on.
"""
from typing import Any

import numpy as np
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer

from mmseg.registry import HOOKS

_BUFFER_TAG = '__history_buffer__'


def to_plain(obj: Any) -> Any:
    """Recursively replace numpy values and HistoryBuffers by plain types."""
    if isinstance(obj, HistoryBuffer):
        log, count = obj.data
        return {
            _BUFFER_TAG: True,
            'log': np.asarray(log).tolist(),
            'count': np.asarray(count).tolist(),
            'max_length': int(obj.max_length),
        }
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_plain(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(to_plain(v) for v in obj)
    return obj


def from_plain(obj: Any) -> Any:
    """Rebuild the HistoryBuffers that :func:`to_plain` flattened."""
    if isinstance(obj, dict):
        if obj.get(_BUFFER_TAG) is True:
            return HistoryBuffer(obj['log'], obj['count'], obj['max_length'])
        return {k: from_plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [from_plain(v) for v in obj]
    return obj


@HOOKS.register_module()
class PlainCheckpointHook(Hook):
    """Convert checkpoint metadata to plain types on save, rebuild on load."""

    priority = 'VERY_LOW'  # run after every hook that adds to the checkpoint

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        for key in list(checkpoint):
            if key in ('state_dict', 'optimizer'):
                continue  # tensors and plain numbers already
            checkpoint[key] = to_plain(checkpoint[key])

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if 'message_hub' in checkpoint:
            checkpoint['message_hub'] = from_plain(checkpoint['message_hub'])
