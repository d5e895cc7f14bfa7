"""Masking strategies for the task-specific latents of the TRL.

The paper (§4.3, Fig. 4, Table 4) compares four ways to mask the patches of
the ``n`` task-specific latents ``z_i`` (``M_i`` is the set of masked patches
of task ``i``):

* ``'random'`` (a): every task is masked independently at random.
* ``'no_overlap'`` (b): ``M_1 ∩ M_2 ∩ ... ∩ M_n = ∅``, i.e. every patch stays
  visible in at least one task.
* ``'same'`` (c, the paper's choice and our default): one random spatial mask
  shared by every task, ``M_1 = M_2 = ... = M_n``.
* ``'task'`` (d): whole tasks are hidden (``z_i`` fully masked for some ``i``).

A mask is a ``torch.BoolTensor`` of shape ``(batch_size, num_tasks,
num_patches)`` where ``True`` means *masked* (hidden from the TRL encoder), as
in MAE. Every strategy masks the same number of tokens in every sample
(:func:`num_masked_tokens`), so visible tokens can be gathered into a dense
``(B, V, C)`` tensor.

Counts (``mask_count``): ``'round'`` (default) masks ``round(ratio * P)``
patches, rounding half up (``floor(ratio * P + 0.5)``); ``'released'`` keeps
``int(P * (1 - ratio))`` patches visible and masks the rest, as the authors'
released code does (S4T ``models/TTT_model/Joint_MAE.py``,
``random_masking``). The two differ by one patch at some ratios, e.g. with
``P = 256``: 179 vs 180 masked at 0.7, 230 vs 231 at 0.9 (equal at 0.8).
Either way at least one patch stays visible.
"""
import math
from typing import Optional, Tuple, Union

import torch

MASK_STRATEGIES: Tuple[str, ...] = ('random', 'no_overlap', 'same', 'task')
#: How a ratio becomes a count (see the module docstring).
MASK_COUNTS: Tuple[str, ...] = ('round', 'released')

DeviceType = Union[str, torch.device, None]


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def check_mask_count(mask_count: str) -> None:
    """Validate ``mask_count`` (one of :data:`MASK_COUNTS`)."""
    if mask_count not in MASK_COUNTS:
        raise ValueError(f'unknown mask_count {mask_count!r}; expected one '
                         f'of {MASK_COUNTS}')


def ratio_to_count(ratio: float, total: int, mask_count: str = 'round'
                   ) -> int:
    """Number of the ``total`` items a ``ratio`` masks, before clamping:
    ``round(ratio * total)`` (``'round'``) or ``total - int(total * (1 -
    ratio))`` (``'released'``)."""
    check_mask_count(mask_count)
    if mask_count == 'released':
        return total - int(total * (1 - ratio))
    return _round_half_up(ratio * total)


def check_mask_args(strategy: str, num_tasks: int, num_patches: int,
                    ratio: float) -> None:
    """Validate masking arguments.

    Raises:
        ValueError: unknown strategy, ratio outside ``[0, 1)``, non-positive
            sizes, or a strategy that cannot work with a single task
            (``'no_overlap'``, ``'task'`` with ``ratio > 0``).
    """
    if strategy not in MASK_STRATEGIES:
        raise ValueError(f'unknown mask strategy {strategy!r}; expected one '
                         f'of {MASK_STRATEGIES}')
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)):
        raise ValueError(f'mask ratio must be a number in [0, 1), got '
                         f'{ratio!r}')
    if not 0.0 <= float(ratio) < 1.0:
        raise ValueError(f'mask ratio must be in [0, 1), got {ratio}')
    for name, value in (('num_tasks', num_tasks),
                        ('num_patches', num_patches)):
        if int(value) != value or value < 1:
            raise ValueError(f'{name} must be a positive integer, got '
                             f'{value!r}')
    if ratio > 0 and num_tasks == 1 and strategy in ('no_overlap', 'task'):
        what = ('a patch masked in the only task is masked in every task'
                if strategy == 'no_overlap' else
                'hiding the only task leaves nothing visible')
        raise ValueError(
            f'mask strategy {strategy!r} needs at least 2 tasks when '
            f'ratio > 0 ({what}); use \'same\' or \'random\' for one input')


def masked_per_task(strategy: str, num_tasks: int, num_patches: int,
                    ratio: float, mask_count: str = 'round') -> int:
    """Number of masked patches in each task (for ``'task'``: in each
    *masked* task, i.e. ``num_patches``; see :func:`masked_tasks`).

    With ``k`` the count of ``ratio · P`` under ``mask_count`` (see the module
    docstring):

    * ``'random'``, ``'same'``: ``k``, at most ``P - 1``.
    * ``'no_overlap'``: ``k``, at most ``P - ceil(P / n)`` (``n`` tasks must
      together see every patch; e.g. 4 tasks, 256 patches, ratio 0.8 gives
      192 = 0.75 · 256 instead of 205).
    * ``'task'``: ``P`` for the hidden tasks, 0 for the others.
    """
    check_mask_args(strategy, num_tasks, num_patches, ratio)
    check_mask_count(mask_count)
    if ratio == 0:
        return 0
    if strategy == 'task':
        return num_patches
    k = min(ratio_to_count(ratio, num_patches, mask_count), num_patches - 1)
    if strategy == 'no_overlap':
        k = min(k, num_patches - math.ceil(num_patches / num_tasks))
    return k


def masked_tasks(num_tasks: int, ratio: float,
                 mask_count: str = 'round') -> int:
    """Number of fully hidden tasks for the ``'task'`` strategy: the count
    of ``ratio · n`` under ``mask_count``, clamped to ``[1, n - 1]`` (0 when
    ``ratio == 0``)."""
    check_mask_args('task', num_tasks, 1, ratio)
    check_mask_count(mask_count)
    if ratio == 0:
        return 0
    return min(max(ratio_to_count(ratio, num_tasks, mask_count), 1),
               num_tasks - 1)


def num_masked_tokens(strategy: str, num_tasks: int, num_patches: int,
                      ratio: float, mask_count: str = 'round') -> int:
    """Number of masked (task, patch) tokens per sample; the same for every
    sample of a batch."""
    if strategy == 'task':
        return masked_tasks(num_tasks, ratio, mask_count) * num_patches
    return num_tasks * masked_per_task(strategy, num_tasks, num_patches,
                                       ratio, mask_count)


def _lowest_k(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Boolean tensor marking the ``k`` lowest scores along the last dim."""
    order = scores.argsort(dim=-1)
    mask = torch.zeros_like(scores, dtype=torch.bool)
    if k > 0:
        mask.scatter_(-1, order[..., :k], True)
    return mask


def generate_mask(strategy: str,
                  batch_size: int,
                  num_tasks: int,
                  num_patches: int,
                  ratio: float,
                  generator: Optional[torch.Generator] = None,
                  device: DeviceType = None,
                  mask_count: str = 'round') -> torch.Tensor:
    """Draw a patch mask for ``num_tasks`` task latents.

    Args:
        strategy: one of :data:`MASK_STRATEGIES`.
        batch_size: number of samples ``B``.
        num_tasks: number of task latents ``n``.
        num_patches: number of patches ``P`` per latent.
        ratio: masking ratio in ``[0, 1)``; ``0`` gives an all-visible mask.
            For ``'task'`` it is the fraction of tasks hidden.
        generator: optional ``torch.Generator``; the random numbers are drawn
            on its device, so a seeded generator gives the same mask on any
            output device.
        device: where to put the mask (default CPU).
        mask_count: ``'round'`` or ``'released'``: how ``ratio`` becomes a
            count (see the module docstring).

    Returns:
        ``torch.BoolTensor`` of shape ``(B, n, P)``, ``True`` = masked. Every
        sample has :func:`num_masked_tokens` masked tokens and at least one
        visible token.
    """
    check_mask_args(strategy, num_tasks, num_patches, ratio)
    check_mask_count(mask_count)
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f'batch_size must be a positive integer, got '
                         f'{batch_size!r}')
    B, n, P = int(batch_size), int(num_tasks), int(num_patches)
    device = torch.device('cpu') if device is None else torch.device(device)
    gen_device = generator.device if generator is not None else 'cpu'

    def rand(*shape):
        return torch.rand(shape, generator=generator, device=gen_device)

    if ratio == 0:
        return torch.zeros(B, n, P, dtype=torch.bool, device=device)

    if strategy == 'random':
        k = masked_per_task(strategy, n, P, ratio, mask_count)
        mask = _lowest_k(rand(B, n, P), k)
    elif strategy == 'same':
        k = masked_per_task(strategy, n, P, ratio, mask_count)
        mask = _lowest_k(rand(B, P), k)[:, None, :].expand(B, n, P)
    elif strategy == 'task':
        m = masked_tasks(n, ratio, mask_count)
        mask = _lowest_k(rand(B, n), m)[:, :, None].expand(B, n, P)
    else:  # no_overlap
        k = masked_per_task(strategy, n, P, ratio, mask_count)
        v = P - k  # visible patches per task; n * v >= P
        # A random order of the patches per sample; task t sees the cyclic
        # window [t*v, t*v + v) of that order. n windows of length v cover
        # n*v >= P consecutive positions, i.e. every patch.
        perm = rand(B, P).argsort(dim=-1)  # (B, P): position -> patch id
        # Shuffle which task gets which window, so no task is special.
        task_order = rand(B, n).argsort(dim=-1)  # (B, n)
        offsets = torch.arange(v, device=gen_device)
        pos = (task_order[:, :, None] * v + offsets) % P  # (B, n, v)
        visible_ids = perm.gather(1, pos.reshape(B, n * v)).reshape(B, n, v)
        mask = torch.ones(B, n, P, dtype=torch.bool, device=gen_device)
        mask.scatter_(-1, visible_ids, False)
    return mask.contiguous().to(device)
