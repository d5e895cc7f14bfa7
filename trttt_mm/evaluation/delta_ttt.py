"""Δ_TTT: the mean relative improvement of test-time training over a baseline.

For metric keys ``i = 1..n`` with baseline values ``M_b,i`` and adapted values
``M_TTT,i``::

    Δ_TTT = (1/n) Σ_i (-1)^{l_i} (M_TTT,i - M_b,i) / M_b,i × 100

where ``l_i = 1`` when lower is better for metric ``i`` (so a positive Δ_TTT
is always an improvement). Every function here is pure: it takes flat metric
dicts such as the ones :class:`MultiTaskMetric` writes (``'semseg/mIoU'``,
``'depth/rmse'``, ...) and returns numbers.
"""
import math
from numbers import Real
from typing import Dict, Iterable, List, Mapping, Optional, Tuple

HIGHER = 'higher'
LOWER = 'lower'

#: Whether a higher or a lower value is better, by metric name (the part of a
#: key after its last ``/``).
METRIC_DIRECTIONS: Dict[str, str] = {
    # semantic segmentation
    'mIoU': HIGHER,
    'aAcc': HIGHER,
    'mAcc': HIGHER,
    # mmseg IoUMetric's other summaries (iou_metrics=['mDice', 'mFscore'])
    'mDice': HIGHER,
    'mFscore': HIGHER,
    'mPrecision': HIGHER,
    'mRecall': HIGHER,
    # edges
    'odsF': HIGHER,
    # surface normals: share of pixels under an angular threshold
    '11.25': HIGHER,
    '22.5': HIGHER,
    '30': HIGHER,
    # errors
    'rmse': LOWER,
    'rmse_pooled': LOWER,
    'rmse_aligned': LOWER,
    'abs_rel': LOWER,
    'mean_angle': LOWER,
    'median_angle': LOWER,
    'rmse_angle': LOWER,
}

#: The primary metric of every task, in task order; the default keys of
#: :func:`delta_ttt`.
PRIMARY_KEYS: Tuple[str, ...] = ('semseg/mIoU', 'depth/rmse',
                                 'normal/mean_angle', 'edge/rmse')
#: The primary key of the unprefixed metrics of mmseg's own ``IoUMetric``
#: (a plain mmseg segmentor's evaluator): the default keys when no key of
#: :data:`PRIMARY_KEYS` is present.
UNPREFIXED_PRIMARY_KEYS: Tuple[str, ...] = ('mIoU', )


def metric_direction(key: str) -> str:
    """Return ``'higher'`` or ``'lower'``: which way ``key`` improves.

    The direction is looked up by the part of ``key`` after its last ``/``, so
    ``'depth/rmse'`` and ``'nyud/depth/rmse'`` both read as ``'rmse'``.

    Raises:
        ValueError: naming the key when its metric name is not in
            :data:`METRIC_DIRECTIONS`.
    """
    name = str(key).rsplit('/', 1)[-1]
    try:
        return METRIC_DIRECTIONS[name]
    except KeyError:
        raise ValueError(
            f'unknown direction for metric {key!r} (name {name!r}); known '
            f'names: {sorted(METRIC_DIRECTIONS)}') from None


def _as_number(value, key: str, which: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(
            f'{which} value of {key!r} is not a number: {value!r}')
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f'{which} value of {key!r} is not finite: {value}')
    return value


def relative_change(base: float, adapted: float, key: str) -> float:
    """Signed relative improvement of ``adapted`` over ``base``, in percent.

    ``(-1)^l (adapted - base) / base × 100`` with ``l = 1`` when lower is better
    for ``key``; positive means ``adapted`` is better.

    Raises:
        ValueError: naming ``key`` when a value is not a finite number, the
            base value is zero or the metric's direction is unknown.
    """
    direction = metric_direction(key)
    base = _as_number(base, key, 'base')
    adapted = _as_number(adapted, key, 'adapted')
    if base == 0:
        raise ValueError(
            f'base value of {key!r} is zero: the relative change is undefined')
    change = (adapted - base) / base * 100.0
    # "+ 0.0" turns a negated zero into 0.0
    return (-change if direction == LOWER else change) + 0.0


def default_keys(base: Mapping, adapted: Mapping) -> List[str]:
    """The primary keys (:data:`PRIMARY_KEYS`) present in both dicts; when
    there is none, those of mmseg's ``IoUMetric``
    (:data:`UNPREFIXED_PRIMARY_KEYS`: ``mIoU``)."""
    keys = [k for k in PRIMARY_KEYS if k in base and k in adapted]
    return keys or [k for k in UNPREFIXED_PRIMARY_KEYS
                    if k in base and k in adapted]


def delta_ttt(base: Mapping[str, float],
              adapted: Mapping[str, float],
              keys: Optional[Iterable[str]] = None) -> dict:
    """Compute Δ_TTT of ``adapted`` over ``base``.

    Args:
        base: flat metric dict of the source (not adapted) model.
        adapted: flat metric dict of the adapted model.
        keys: metric keys to average over. ``None`` takes the primary metric of
            each task (``semseg/mIoU``, ``depth/rmse``, ``normal/mean_angle``,
            ``edge/rmse``) that both dicts hold, else mmseg ``IoUMetric``'s
            ``mIoU`` (:func:`default_keys`).

    Returns:
        ``dict(delta_ttt=<percent>, per_task={key: <percent>})``; ``per_task``
        keeps the order of ``keys``.

    Raises:
        ValueError: when a key is missing from either dict (naming the key and
            the dict), a base value is zero, a value is not a finite number, a
            key's direction is unknown, or there is no key at all.
    """
    if keys is None:
        keys = default_keys(base, adapted)
        if not keys:
            raise ValueError(
                f'no primary metric key '
                f'{list(PRIMARY_KEYS + UNPREFIXED_PRIMARY_KEYS)} is present in '
                f'both dicts; base has {sorted(base)}, adapted has '
                f'{sorted(adapted)}')
    else:
        if isinstance(keys, str):
            keys = [keys]
        keys = list(keys)
        if not keys:
            raise ValueError('delta_ttt: expected at least one metric key')
        if len(set(keys)) != len(keys):
            raise ValueError(f'delta_ttt: duplicate metric keys in {keys}')
    per_task = {}
    for key in keys:
        for which, metrics in (('base', base), ('adapted', adapted)):
            if key not in metrics:
                raise ValueError(
                    f'metric {key!r} is missing from the {which} metrics '
                    f'(keys: {sorted(metrics)})')
        per_task[key] = relative_change(base[key], adapted[key], key)
    return dict(
        delta_ttt=sum(per_task.values()) / len(per_task), per_task=per_task)
