"""Checked loading of model weights for the tools.

mmengine's ``Runner.load_checkpoint`` loads non-strictly and only warns, so a
checkpoint of another model, or one whose tensors have other shapes, runs to
the end and reports the metrics of a partly random model. Here the weights are
compared with the model first: by default any missing, unexpected or
shape-mismatched key is an error that names them; ``partial=True`` loads what
fits and logs the rest. Either way the model state-dict keys that did NOT come
from the checkpoint are recorded in the runner's message hub under
:data:`MISSING_KEYS_INFO`, so test-time hooks can check that the branches they
need were loaded. Loading stays weights-only
(``torch.load(weights_only=True)``).
"""
import os
import re
from typing import Dict, List, Optional, Tuple

import torch
from torch import nn

#: Message-hub info key: sorted list of model state-dict keys that were not
#: loaded from the checkpoint (missing from it or of another shape); ``[]``
#: when every key was loaded.
MISSING_KEYS_INFO = 'checkpoint_missing_keys'

#: How many keys of each kind an error or log message lists.
SHOW_KEYS = 10


class CheckpointMismatchError(RuntimeError):
    """The checkpoint cannot be read or does not fit the model."""


class LoadReport:
    """How a checkpoint's state dict matches a model's.

    Attributes:
        missing: Model keys absent from the checkpoint.
        unexpected: Checkpoint keys the model does not have.
        mismatched: ``(key, checkpoint_shape, model_shape)`` of keys present
            in both with different shapes.
        loaded: Number of model keys whose values fit.
    """

    def __init__(self, missing: List[str], unexpected: List[str],
                 mismatched: List[Tuple[str, tuple, tuple]], loaded: int):
        self.missing = missing
        self.unexpected = unexpected
        self.mismatched = mismatched
        self.loaded = loaded

    @property
    def not_loaded(self) -> List[str]:
        """Model keys that keep their initial values."""
        return sorted(self.missing + [k for k, _, _ in self.mismatched])

    @property
    def complete(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def describe(self, limit: int = SHOW_KEYS) -> str:
        """The first ``limit`` keys of each kind, with counts."""
        lines = []

        def section(title, items):
            if not items:
                return
            lines.append(f'  {title} ({len(items)}):')
            lines.extend(f'    {item}' for item in items[:limit])
            if len(items) > limit:
                lines.append(f'    ... and {len(items) - limit} more')

        section('missing in the checkpoint', self.missing)
        section('unexpected in the checkpoint', self.unexpected)
        section('shape mismatch (checkpoint vs model)', [
            f'{k}: {tuple(c)} vs {tuple(m)}' for k, c, m in self.mismatched])
        return '\n'.join(lines)


def unreadable_checkpoint_message(filename: str, error: BaseException
                                  ) -> str:
    """``cannot read checkpoint FILE: <error>``, saying when the file looks
    cut short (an interrupted save or copy)."""
    text = str(error).strip()
    first = text.splitlines()[0] if text else ''
    if len(first) > 160:
        first = first[:157] + '...'
    msg = f'cannot read checkpoint {filename}: {type(error).__name__}'
    msg += f': {first}' if first else ''
    truncated = isinstance(error, EOFError) or any(
        hint in text for hint in ('central directory', 'Invalid argument',
                                  'unexpected end', 'file too short'))
    if truncated and os.path.isfile(filename):
        msg += (f' (the file, {os.path.getsize(filename)} bytes, looks '
                'truncated: an interrupted save or copy?)')
    return msg


def read_checkpoint(filename: str) -> dict:
    """``torch.load`` the file weights-only onto the CPU; clear errors."""
    try:
        checkpoint = torch.load(filename, map_location='cpu',
                                weights_only=True)
    except Exception as e:  # unpickling, zip or I/O errors alike
        raise CheckpointMismatchError(
            unreadable_checkpoint_message(filename, e)) from e
    if not isinstance(checkpoint, dict):
        raise CheckpointMismatchError(
            f'checkpoint {filename} holds a {type(checkpoint).__name__}, not '
            'a dict with a state_dict')
    return checkpoint


def checkpoint_state_dict(checkpoint: dict, filename: str = '?'
                          ) -> Dict[str, torch.Tensor]:
    """The weights of an mmengine checkpoint (``state_dict``) or of a plain
    state dict, with DDP's ``module.`` prefixes removed."""
    state = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state, dict) or not state:
        raise CheckpointMismatchError(
            f'checkpoint {filename} has no (or an empty) state_dict')
    return {re.sub(r'^module\.', '', k): v for k, v in state.items()}


def compare(model: nn.Module, state: Dict[str, torch.Tensor]) -> LoadReport:
    """Match ``state`` against ``model.state_dict()`` by key and shape."""
    own = model.state_dict()
    missing = sorted(k for k in own if k not in state)
    unexpected = sorted(k for k in state if k not in own)
    mismatched = []
    loaded = 0
    for key in sorted(own):
        if key not in state:
            continue
        ours, theirs = own[key], state[key]
        if hasattr(ours, 'shape') and hasattr(theirs, 'shape') \
                and tuple(ours.shape) != tuple(theirs.shape):
            mismatched.append((key, tuple(theirs.shape), tuple(ours.shape)))
        else:
            loaded += 1
    return LoadReport(missing, unexpected, mismatched, loaded)


def load_weights(model: nn.Module, state: Dict[str, torch.Tensor],
                 filename: str, partial: bool = False,
                 logger=None) -> LoadReport:
    """Copy ``state`` into ``model``: all of it, or with ``partial`` what fits.

    Raises:
        CheckpointMismatchError: when the state dict does not fit the model
            exactly (and ``partial`` is False), or when nothing fits at all.
    """
    # Modules whose buffers are shaped by the data (e.g. ActMADStatsHead's
    # per-location statistics) create them from the checkpoint first.
    for name, module in model.named_modules():
        prepare = getattr(module, 'prepare_state_dict', None)
        if callable(prepare):
            prepare(state, f'{name}.' if name else '')
    report = compare(model, state)
    if not report.complete and not partial:
        raise CheckpointMismatchError(
            f'checkpoint {filename} does not match the model:\n'
            f'{report.describe()}\n'
            'Is it a checkpoint of this config? To load only the matching '
            'weights and keep the rest at their initial values, pass '
            '--partial-load.')
    if report.loaded == 0:
        raise CheckpointMismatchError(
            f'checkpoint {filename}: none of its weights fit the model, even '
            f'partially:\n{report.describe()}')
    skip = {k for k, _, _ in report.mismatched} | set(report.unexpected)
    fitting = {k: v for k, v in state.items() if k not in skip}
    model.load_state_dict(fitting, strict=False)
    if not report.complete and logger is not None:
        logger.warning(
            f'partial load of {filename}: {report.loaded} keys loaded, '
            f'{len(report.not_loaded)} model keys keep their initial values, '
            f'{len(report.unexpected)} checkpoint keys ignored:\n'
            f'{report.describe()}')
    return report


def load_runner_checkpoint(runner, filename: str,
                           partial: bool = False) -> dict:
    """Load ``filename`` into ``runner``'s model as checked above.

    Calls the ``after_load_checkpoint`` hooks first (as mmengine does), then
    records :data:`MISSING_KEYS_INFO` in ``runner.message_hub``.
    """
    from mmengine.model import is_model_wrapper

    checkpoint = read_checkpoint(filename)
    runner.call_hook('after_load_checkpoint', checkpoint=checkpoint)
    model = runner.model.module if is_model_wrapper(runner.model) \
        else runner.model
    state = checkpoint_state_dict(checkpoint, filename)
    report = load_weights(model, state, filename, partial, runner.logger)
    runner.message_hub.update_info(MISSING_KEYS_INFO, report.not_loaded,
                                   resumed=False)
    runner.logger.info(
        f'Load checkpoint from {filename} ({report.loaded} keys'
        f'{", all of the model" if report.complete else ", partial"})')
    return checkpoint


def missing_checkpoint_keys(runner) -> Optional[List[str]]:
    """:data:`MISSING_KEYS_INFO` of ``runner``; None when no checkpoint was
    loaded through :func:`load_runner_checkpoint`."""
    return runner.message_hub.get_info(MISSING_KEYS_INFO)
