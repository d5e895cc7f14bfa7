"""The decomposition of a gradient method's Δ_TTT into what its norm-layer
statistics do and what its gradient does.

For every gradient method (any hook but ``NormStatsHook``) of a benchmark
config with ``decomposition=True``, two variants are generated from the
method's own entry:

- ``<label>Stats``, *statistics only*: ``NormStatsHook`` on the method's own
  source model, as many statistics passes per batch as the method's steps,
  no gradient (a config may name its own control instead: an entry
  ``<label>Stats`` on the same source, ``NormStatsHook`` or the method's
  hook without a gradient, e.g. TENT with learning rate 0, whose statistics
  are each batch's own);
- ``<label>Grad``, *gradient only*: the method itself with frozen statistics
  (``norm_mode='eval'``, plus the method's ``grad_overrides``, e.g. TENT's
  ``running_stats='update'``: it keeps its source statistics), the same
  learning rate and steps.

With the method itself (*both*) they give, per seed and against the same
base (the same source model on the same batches), the interaction
``both - stats - grad`` in Δ_TTT points (0: the two parts add up). In the
*selected* protocol the variants follow the method's selected setting (the
gradient-only variant its learning rate and steps, the statistics control
its steps); they have no grid of their own.
"""
from typing import Callable, Dict, List, Optional, Sequence

from .trees import get_dotted, merge

#: The hook of the statistics-only controls (and of methods that have no
#: gradient, which are not decomposed).
STATS_HOOK = 'NormStatsHook'
#: Parts of a decomposition, in table order.
PARTS = ('stats', 'grad', 'both')
#: Label suffix of each generated variant.
SUFFIX = dict(stats='Stats', grad='Grad')


def expand(methods: Dict[str, dict], enabled, where: str = 'config'
           ) -> Dict[str, dict]:
    """The methods with the decomposition variants of every gradient method
    (each right after its method; an existing ``<label>Stats`` entry that is
    ``NormStatsHook`` on the same source is used as the statistics control,
    not generated again).

    Args:
        methods: label -> method spec (``hook``, ``source``, ...); a spec may
            opt out with ``decomposition=False``.
        enabled: the config's ``decomposition`` (bool).
        where: the config file, for messages.

    Returns:
        A new dict; generated entries carry ``variant=dict(of=label,
        part='stats'|'grad')`` and the decomposed methods
        ``parts=dict(stats=..., grad=...)``.

    Raises:
        SystemExit: ``enabled`` is not a bool, or a generated label is
            taken by an entry that is not the same control.
    """
    if enabled is None:
        enabled = False
    if not isinstance(enabled, bool):
        raise SystemExit(f'{where}: decomposition must be true or false, got '
                         f'{enabled!r}')
    if not enabled:
        return dict(methods)
    out: Dict[str, dict] = {}
    for label, spec in methods.items():
        if label in out:
            continue
        out[label] = spec
        if spec.get('hook') == STATS_HOOK or spec.get('variant') or \
                spec.get('decomposition') is False:
            continue
        parts = {}
        stats_label = label + SUFFIX['stats']
        given = methods.get(stats_label)
        if given is not None:
            if given.get('hook') not in (STATS_HOOK, spec.get('hook')) or \
                    given.get('source') != spec.get('source'):
                raise SystemExit(
                    f'{where}: methods.{stats_label} exists but is neither '
                    f'{STATS_HOOK} nor {spec.get("hook")} on source '
                    f'{spec.get("source")!r}; the decomposition of {label} '
                    'needs that name for its statistics-only control')
            out[stats_label] = dict(given, variant=dict(of=label,
                                                        part='stats',
                                                        generated=False))
        else:
            out[stats_label] = dict(
                hook=STATS_HOOK, source=spec['source'], lr_key=None,
                steps_key='passes',
                variant=dict(of=label, part='stats', generated=True))
        parts['stats'] = stats_label
        grad_label = label + SUFFIX['grad']
        if grad_label in methods:
            raise SystemExit(f'{where}: methods.{grad_label} exists; the '
                             f'decomposition of {label} generates that name '
                             '(its gradient-only variant)')
        grad = {k: v for k, v in spec.items()
                if k not in ('parts', 'grad_overrides')}
        grad['overrides'] = merge(
            spec.get('overrides') or {},
            merge(dict(norm_mode='eval'), spec.get('grad_overrides') or {}))
        grad['variant'] = dict(of=label, part='grad', generated=True)
        out[grad_label] = grad
        parts['grad'] = grad_label
        out[label] = dict(spec, parts=parts)
    return out


def resolve(methods: Dict[str, dict],
            method_defaults: Callable[[str], dict]) -> None:
    """Give each statistics control the passes of its method's steps (in
    place; the steps are the method's hook defaults with its overrides). A
    method whose source config does not exist is left alone (the runner
    reports it, and so its variants, as not available).

    Args:
        methods: the expanded methods (:func:`expand`).
        method_defaults: label -> the method's hook arguments.
    """
    for label, spec in methods.items():
        v = spec.get('variant')
        if not v or v['part'] != 'stats' or not v.get('generated'):
            continue
        try:
            defaults = method_defaults(v['of'])
        except FileNotFoundError:
            continue  # its source config is missing: reported unavailable
        steps = method_steps(methods[v['of']], defaults)
        if steps is not None:
            spec['overrides'] = merge(spec.get('overrides') or {},
                                      dict(passes=steps))


def method_steps(spec: dict, defaults: dict,
                 setting: Optional[dict] = None) -> Optional[int]:
    """A method's steps per batch (its ``steps_key``) under ``setting``
    (dotted keys of a grid setting) or its defaults; None when it has
    none."""
    key = spec.get('steps_key', 'steps')
    if not key:
        return None
    if setting and key in setting:
        return int(setting[key])
    st = get_dotted(defaults, key)
    return st if isinstance(st, int) and not isinstance(st, bool) else None


def variant_setting(part: str, parent_spec: dict, parent_defaults: dict,
                    setting: dict) -> dict:
    """The setting (dotted keys) a variant runs with in the *selected*
    protocol, from its method's selected ``setting``: the gradient-only
    variant the same setting, the statistics control as many passes as the
    selected steps (nothing when the steps are not part of the setting)."""
    if part == 'grad':
        return dict(setting)
    key = parent_spec.get('steps_key', 'steps')
    if key and key in setting:
        return {'passes': int(setting[key])}
    return {}


def decomposed(methods: Dict[str, dict], labels: Sequence[str]
               ) -> List[str]:
    """The labels among ``labels`` that have both variants in ``labels``."""
    return [lab for lab in labels if methods.get(lab, {}).get('parts') and
            all(p in labels for p in methods[lab]['parts'].values())]


def generated(methods: Dict[str, dict], label: str) -> bool:
    """Whether ``label`` is a generated variant (kept out of the method
    tables, shown in the decomposition tables)."""
    return bool((methods.get(label) or {}).get('variant', {}).get(
        'generated'))


def interaction(stats: float, grad: float, both: float) -> float:
    """``both - stats - grad`` (Δ_TTT points; 0 when the parts add up)."""
    return both - stats - grad


def seed_values(views: Dict[str, Dict[int, float]]
                ) -> Dict[str, List[float]]:
    """Per part (``stats``, ``grad``, ``both``, ``interaction``) the values
    of the seeds on which all three parts finished (paired).

    Args:
        views: part -> seed -> Δ_TTT.
    """
    seeds = sorted(set.intersection(*(set(views.get(p, {})) for p in PARTS)))
    out = {p: [views[p][s] for s in seeds] for p in PARTS}
    out['interaction'] = [interaction(views['stats'][s], views['grad'][s],
                                      views['both'][s]) for s in seeds]
    return out
