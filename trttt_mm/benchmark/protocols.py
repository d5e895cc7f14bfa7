"""How a finished run is read: the stream curve, the protocols (*last*,
*best step*, *selected*, the common reference) and the paired comparison.

"Step" on an online stream: batch ``b`` (1-based) is predicted after the
method has made ``s_b`` adaptation steps in all (optimizer updates, or
statistics passes for NormStatsHook) on batches ``1..b``; the curve records
the running Δ_TTT over batches ``1..b`` at ``s_b``. The *last* protocol reads
the whole stream (``b = B``); the *best step* protocol takes the best running
Δ_TTT over ``b >= ceil(min_fraction * B)``: an oracle, since it looks at the
test labels. The *selected* protocol reads the whole stream of the runs with
the hyper-parameters picked on a validation target
(:mod:`trttt_mm.benchmark.selection`).
"""
import math
from typing import Dict, List, Optional, Sequence

#: Per-task keys of Table 1 (each task's primary metric), in task order.
TASK_KEYS = ('semseg/mIoU', 'depth/rmse', 'normal/mean_angle', 'edge/rmse')
#: The protocols, in report order.
PROTOCOLS = ('last', 'best', 'selected')
#: Paired comparison: a difference of at most this many Δ_TTT points is a
#: tie, not a win or a loss (run-to-run arithmetic noise; a control that
#: reproduces the reference to 1e-3 points must not count as beaten).
TIE_POINTS = 0.05


def run_kind(protocol: str) -> str:
    """The kind of run a protocol reads: ``selected`` runs for the selected
    protocol, the default-schedule ``test`` runs otherwise."""
    return 'selected' if protocol == 'selected' else 'test'


def curve_points(curve: dict, batch_size: int,
                 num_images: Optional[int] = None,
                 passes: Optional[int] = None) -> List[dict]:
    """Per batch of the stream: images seen, cumulative steps and the running
    Δ_TTT (and per-task running Δ) over the batches so far.

    Args:
        curve: the monitor's ``ttt_curve.json``.
        batch_size: images per batch of the stream.
        num_images: images of the stream (the last batch may be short).
        passes: steps per batch of a method that records no loss (the
            statistics passes of NormStatsHook), used when the curve counts
            none.
    """
    from trttt_mm.evaluation.delta_ttt import delta_ttt
    steps = list(curve.get('steps_per_batch') or [])
    if passes and not any(steps):
        steps = [int(passes)] * len(curve.get('delta_ttt') or [])
    deltas = curve.get('delta_ttt') or []
    metrics = curve.get('metrics') or []
    bases = curve.get('base_metrics') or []
    out, total = [], 0
    for b, d in enumerate(deltas):
        total += int(steps[b]) if b < len(steps) else 0
        images = (b + 1) * batch_size
        if num_images is not None:
            images = min(images, num_images)
        point = dict(batch=b + 1, images=images, steps=total,
                     delta_ttt=None if d is None else float(d))
        if b < len(metrics) and b < len(bases):
            keys = [k for k in TASK_KEYS if k in metrics[b] and k in bases[b]]
            try:
                res = delta_ttt(bases[b], metrics[b], keys)
                point['per_task'] = res['per_task']
            except ValueError:
                pass
            point['adapted'] = {k: metrics[b][k] for k in keys}
            point['base'] = {k: bases[b][k] for k in keys}
        out.append(point)
    return out


def best_step(points: List[dict], min_fraction: float) -> Optional[dict]:
    """The curve point with the best running Δ_TTT among the prefixes of at
    least ``ceil(min_fraction * B)`` of the ``B`` batches (ties: the
    earliest); None when no point has a Δ_TTT."""
    if not points:
        return None
    first = max(1, math.ceil(min_fraction * len(points)))
    cands = [p for p in points[first - 1:] if p.get('delta_ttt') is not None]
    if not cands:
        return None
    best = max(cands, key=lambda p: (p['delta_ttt'], -p['batch']))
    return dict(best, min_batch=first)


def protocol_view(run: dict, protocol: str) -> Optional[dict]:
    """``dict(adapted, per_task, delta_ttt, base)`` of a finished test run in
    a protocol (``last``/``selected``: the whole stream; ``best``: the
    best-step point); None when the run did not finish or has no such
    point."""
    if run.get('status') != 'done' or run.get('diverged'):
        return None
    if protocol in ('last', 'selected'):
        return dict(adapted=run['adapted'], per_task=run['per_task'],
                    delta_ttt=run['delta_ttt'], base=run['base'])
    b = run.get('best_step')
    if not b:
        return None
    return dict(adapted=b.get('adapted', {}), per_task=b.get('per_task', {}),
                delta_ttt=b['delta_ttt'], base=b.get('base', {}))


def common_reference(evals: Sequence[dict],
                     source_only: Optional[str]) -> Dict[tuple, dict]:
    """(family, seed) -> metrics of the source-only model, not adapted, on
    that family's target: the one yardstick of the common-reference
    summary."""
    return {(r['family'], r.get('seed')): r['metrics'] for r in evals
            if r.get('source') == source_only and
            r['family'] != 'source_val'}


def deltas_by_seed(runs: List[dict], family: str, labels: Sequence[str],
                   protocol: str) -> Dict[int, Dict[str, float]]:
    """seed -> method -> Δ_TTT of the finished runs of ``labels`` on
    ``family`` in ``protocol``."""
    kind = run_kind(protocol)
    by_seed: Dict[int, Dict[str, float]] = {}
    for r in runs:
        if r['family'] != family or r['kind'] != kind or \
                r['method'] not in labels:
            continue
        v = protocol_view(r, protocol)
        if v is not None:
            by_seed.setdefault(r['seed'], {})[r['method']] = v['delta_ttt']
    return by_seed


def paired(runs: List[dict], family: str, reference: str,
           labels: Sequence[str], protocol: str = 'last') -> dict:
    """Per seed: the reference method's Δ_TTT minus the best other method's
    (the methods that finished on that seed); a win when the difference is
    above :data:`TIE_POINTS`, a tie within it."""
    by_seed = deltas_by_seed(runs, family, labels, protocol)
    rows = []
    for seed in sorted(by_seed):
        d = by_seed[seed]
        others = {k: v for k, v in d.items() if k != reference}
        if reference not in d or not others:
            continue
        best_label = max(others, key=lambda k: others[k])
        diff = d[reference] - others[best_label]
        rows.append(dict(seed=seed, reference=d[reference],
                         best_other=best_label,
                         best_other_delta=others[best_label], diff=diff,
                         win=diff > TIE_POINTS,
                         tie=abs(diff) <= TIE_POINTS))
    return dict(family=family, protocol=protocol, reference=reference,
                rows=rows, wins=sum(r['win'] for r in rows),
                ties=sum(r['tie'] for r in rows), seeds=len(rows))


def head_to_head(runs: List[dict], family: str, reference: str,
                 labels: Sequence[str], protocol: str = 'last'
                 ) -> List[dict]:
    """The reference method against each other method on its own, paired
    per seed (the seeds on which both finished): per other method, the
    differences ``reference - other`` (Δ_TTT points) and how many are wins,
    ties (within :data:`TIE_POINTS`) and losses."""
    by_seed = deltas_by_seed(runs, family, labels, protocol)
    out = []
    for lab in labels:
        if lab == reference:
            continue
        diffs = [(seed, d[reference] - d[lab])
                 for seed, d in sorted(by_seed.items())
                 if reference in d and lab in d]
        if not diffs:
            continue
        vals = [x for _, x in diffs]
        out.append(dict(method=lab, seeds=[s for s, _ in diffs], diffs=vals,
                        wins=sum(x > TIE_POINTS for x in vals),
                        ties=sum(abs(x) <= TIE_POINTS for x in vals),
                        losses=sum(x < -TIE_POINTS for x in vals)))
    return out
