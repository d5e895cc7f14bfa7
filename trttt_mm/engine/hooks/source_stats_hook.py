"""Source statistics: one pass over the source data that fills the buffers
of the auxiliary heads that keep statistics (``has_source_stats``)."""
import copy
from typing import Iterable, List, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmseg.registry import HOOKS


def stats_heads(model: nn.Module,
                names: Optional[Sequence[str]] = None) -> List[str]:
    """Names of the model's auxiliary heads that keep source statistics
    (all of them, or the given ``names``, checked)."""
    heads = getattr(model, 'aux_heads', {})
    have = [n for n, h in heads.items() if getattr(h, 'has_source_stats',
                                                   False)]
    if names is None:
        return have
    bad = [n for n in names if n not in have]
    if bad:
        raise ValueError(f'source statistics: {bad} are not heads with '
                         f'source statistics of this model (it has {have})')
    return list(names)


@torch.no_grad()
def collect_source_stats(model: nn.Module, batches: Iterable,
                         heads: Optional[Sequence[str]] = None,
                         max_batches: Optional[int] = None) -> dict:
    """Run the model in eval mode over ``batches`` and fill the statistics of
    its heads.

    Args:
        model: A :class:`MultiTaskEncoderDecoder` (wrapped or not).
        batches: An iterable of data batches (a finite dataloader).
        heads: Head names (default: every head with source statistics).
        max_batches: Stop after this many batches.

    Returns:
        ``dict(heads=[...], batches=<n>)``.

    Raises:
        ValueError: when the model has no such head or no batch was seen.
    """
    model = model.module if is_model_wrapper(model) else model
    names = stats_heads(model, heads)
    if not names:
        raise ValueError('source statistics: the model has no auxiliary head '
                         'with source statistics (has_source_stats)')
    was_training = model.training
    model.eval()
    for n in names:
        model.aux_heads[n].stats_begin(model)
    seen = 0
    try:
        for batch in batches:
            if max_batches is not None and seen >= max_batches:
                break
            data = model.data_preprocessor(batch, False)
            out = model.forward_branches(data['inputs'], branches=names)
            for n in names:
                model.aux_heads[n].stats_update(out[n])
            seen += 1
        if seen == 0:
            raise ValueError('source statistics: the data gave no batch')
        for n in names:
            model.aux_heads[n].stats_end()
    finally:
        model.train(was_training)
    return dict(heads=names, batches=seen)


def finite_loader_cfg(loader_cfg: dict) -> dict:
    """A copy of a (training) dataloader config that makes one ordered pass:
    a ``DefaultSampler`` without shuffling instead of an infinite one."""
    cfg = copy.deepcopy(dict(loader_cfg))
    cfg['sampler'] = dict(type='DefaultSampler', shuffle=False)
    cfg.pop('batch_sampler', None)
    return cfg


@HOOKS.register_module()
class SourceStatsHook(Hook):
    """After the last training iteration (before the final checkpoint is
    written), fill the source statistics of the model's heads with one pass
    over the training data, so the checkpoint is self-contained.

    Args:
        heads: Head names (default: every head with source statistics).
        dataloader: Dataloader config of the pass (default: the training
            dataloader with an ordered, finite sampler).
        max_batches: Stop after this many batches.
    """

    # Before CheckpointHook (VERY_LOW) saves the last iteration.
    priority = 'LOW'

    def __init__(self, heads: Optional[Sequence[str]] = None,
                 dataloader: Optional[dict] = None,
                 max_batches: Optional[int] = None):
        self.heads = None if heads is None else list(heads)
        self.dataloader = dataloader
        if max_batches is not None and int(max_batches) < 1:
            raise ValueError(f'SourceStatsHook.max_batches must be >= 1, got '
                             f'{max_batches!r}')
        self.max_batches = max_batches

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        if runner.iter + 1 != runner.max_iters:
            return
        cfg = self.dataloader or finite_loader_cfg(runner.cfg.train_dataloader)
        loader = runner.build_dataloader(cfg, seed=0)
        info = collect_source_stats(runner.model, loader, self.heads,
                                    self.max_batches)
        print_log(f'source statistics of {info["heads"]} from '
                  f'{info["batches"]} batches', logger='current')
