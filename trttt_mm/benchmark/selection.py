"""Hyper-parameter selection without test labels (``--select-hparams``):
each method's grid, the seeds it runs with, and the choice of the setting
with the best mean final Δ_TTT on the validation target.

This module holds the grids and the choice only; which runs are made and
how they are read is the runner's and the protocols' concern."""
import math
import statistics
from typing import Dict, List, Optional, Sequence, Tuple

from .trees import get_dotted

#: Validation Δ_TTT within this many points of the best one is a tie; ties
#: go to the method's default setting.
TIE_TOLERANCE = 1e-3


def grid(spec: dict, defaults: dict, hparam_selection: dict) -> List[dict]:
    """A method's grid: its learning rate x factors (the method's own
    ``lr_factors``, else ``hparam_selection.lr_factors``), its steps in the
    configured list (an explicit ``grid`` in the method spec wins; a
    generated decomposition variant has none: it follows its method's
    choice).

    Args:
        spec: the method's entry of the benchmark config (``lr_key``,
            ``steps_key``, ``lr_factors``, ``grid``).
        defaults: the method's hook arguments (config defaults merged with
            the spec's overrides).
        hparam_selection: the config's ``hparam_selection`` (``lr_factors``,
            ``steps``).

    Returns:
        Settings as dotted keys -> values, in grid order, without
        duplicates.
    """
    if (spec.get('variant') or {}).get('generated'):
        return []
    if spec.get('grid'):
        keys = list(spec['grid'])
        combos = [{}]
        for k in keys:
            combos = [dict(c, **{k: v}) for c in combos
                      for v in spec['grid'][k]]
        return combos
    hs = hparam_selection
    lr_key = spec.get('lr_key', 'optimizer.lr')
    steps_key = spec.get('steps_key', 'steps')
    lrs, steps = [None], [None]
    lr = get_dotted(defaults, lr_key) if lr_key else None
    if isinstance(lr, (int, float)) and not isinstance(lr, bool):
        factors = spec.get('lr_factors') or hs['lr_factors']
        lrs = [lr * f for f in factors]
        if lr_key == 'momentum':  # a norm momentum stays in (0, 1]
            lrs = [min(1.0, v) for v in lrs]
    st = get_dotted(defaults, steps_key) if steps_key else None
    if isinstance(st, int) and not isinstance(st, bool):
        steps = []
        for v in hs['steps']:
            v = st if v == 'default' else int(v)
            if v not in steps:
                steps.append(v)
    combos = []
    for a in lrs:
        for s in steps:
            c = {}
            if a is not None:
                c[lr_key] = a
            if s is not None:
                c[steps_key] = s
            if c not in combos:
                combos.append(c)
    return combos


def lr_factors(factors, where: str) -> List[float]:
    """Check a list of learning-rate factors (positive numbers).

    Raises:
        SystemExit: naming ``where`` and the value.
    """
    if not isinstance(factors, (list, tuple)) or not factors or any(
            isinstance(f, bool) or not isinstance(f, (int, float)) or f <= 0
            for f in factors):
        raise SystemExit(f'{where} must be a non-empty list of positive '
                         f'numbers, got {factors!r}')
    return [float(f) for f in factors]


def lr_edge(choice: Optional[dict], lr_key: Optional[str]) -> Optional[str]:
    """Whether the selected learning rate sits on an edge of the grid that
    finished: ``'low'`` (the smallest), ``'high'`` (the largest) or None
    (inside, no learning rate, or a one-value grid). A selection on an edge
    may be cut off by the grid: the best value can lie beyond it. A rate
    whose runs diverged bounds the grid too (the best value is not beyond
    a diverging one)."""
    if not choice or not lr_key or lr_key not in (choice.get('setting')
                                                  or {}):
        return None
    lrs = sorted({float(g['setting'][lr_key])
                  for g in choice.get('grid') or []
                  if lr_key in g['setting']} |
                 {float(c[lr_key]) for c in choice.get('diverged') or []
                  if lr_key in c})
    if len(lrs) < 2:
        return None
    v = float(choice['setting'][lr_key])
    if math.isclose(v, lrs[0], rel_tol=1e-9):
        return 'low'
    if math.isclose(v, lrs[-1], rel_tol=1e-9):
        return 'high'
    return None


def tag(combo: dict) -> str:
    """A setting as a folder-safe name (``optimizer-lr=0.001_steps=1``)."""
    if not combo:
        return 'default'
    return '_'.join(f'{k.replace(".", "-")}={v:g}' if isinstance(
        v, float) else f'{k.replace(".", "-")}={v}'
        for k, v in combo.items())


def selection_seeds(which, seeds: Sequence[int]) -> List[int]:
    """The seeds whose source models the grids run on: ``'all'``,
    ``'first'`` (default) or a list (``hparam_selection.seeds``).

    Raises:
        SystemExit: any other value.
    """
    if which is None:
        which = 'first'
    if which == 'all':
        return list(seeds)
    if which == 'first':
        return list(seeds[:1])
    if not isinstance(which, (list, tuple)) or not which:
        raise SystemExit("hparam_selection.seeds must be 'all', "
                         f"'first' or a list of seeds, got {which!r}")
    return [int(x) for x in which]


def is_default(defaults: dict, combo: dict) -> bool:
    """Whether every value of ``combo`` equals the method's default."""
    for k, v in combo.items():
        d = get_dotted(defaults, k)
        if not isinstance(d, (int, float)) or isinstance(d, bool) or \
                not math.isclose(float(d), float(v), rel_tol=1e-9):
            return False
    return True


def score_grid(grid_: Sequence[dict],
               deltas: Dict[str, Sequence[Optional[float]]],
               num_seeds: int) -> List[Tuple[float, dict]]:
    """(mean validation Δ_TTT, setting) of the settings that finished on
    every selection seed.

    Args:
        grid_: the settings.
        deltas: tag of a setting -> the final Δ_TTT of its finished
            validation runs.
        num_seeds: how many selection seeds there are.
    """
    scores = []
    for c in grid_:
        vals = list(deltas.get(tag(c), []))
        if len(vals) == num_seeds:
            scores.append((statistics.fmean(vals), c))
    return scores


def choose(scores: Sequence[Tuple[float, dict]],
           defaults: dict,
           diverged: Sequence[dict] = ()) -> Optional[dict]:
    """The setting with the best mean validation Δ_TTT (ties within
    :data:`TIE_TOLERANCE` go to the default setting).

    Args:
        scores: (mean validation Δ_TTT, setting) of the finished settings.
        defaults: the method's default setting.
        diverged: the settings whose validation runs diverged (non-finite
            predictions): never chosen, listed in the choice.

    Returns:
        ``dict(setting, tag, validation_delta, grid, default)`` (and
        ``diverged`` when some did) or None when no setting finished.
    """
    if not scores:
        return None
    top = max(v for v, _ in scores)
    tied = [c for v, c in scores if v >= top - TIE_TOLERANCE]
    dflt = [c for c in tied if is_default(defaults, c)]
    best = dflt[0] if dflt else max(scores, key=lambda x: x[0])[1]
    return dict(setting=best, tag=tag(best),
                validation_delta=max(x[0] for x in scores),
                grid=[dict(setting=c, validation_delta=v)
                      for v, c in scores],
                default=is_default(defaults, best),
                **({'diverged': [dict(c) for c in diverged]}
                   if diverged else {}))
