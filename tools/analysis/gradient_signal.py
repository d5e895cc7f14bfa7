"""Gradient signal of a test-time objective — an ORACLE diagnostic.

    python tools/analysis/gradient_signal.py CONFIG CKPT --tta-hook NAME
        --out FILE.json [--fig FILE.png] [--num-batches 6]
        [--norm-mode eval|train|hook] [--lrs LR ...] [--decades -3 6]
        [--per-decade 2] [--label TEXT] [--cfg-options ttt.NAME.key=value]
    python tools/analysis/gradient_signal.py --plot A.json B.json ...
        --fig FILE.png

**This tool reads the target labels.** It answers a question about a
method — does the gradient of its test-time objective point where the
target error goes down, and how large a step does that take? — and must
never be used to choose a setting that is then reported as a test-time
result (that would be selection on test labels; select on a validation
target instead, as ``tools/benchmark.py --select-hparams`` does).

The test-time hook ``NAME`` is built as ``tools/test.py --tta-hook NAME``
builds it (``cfg.ttt[NAME]`` merged with ``--cfg-options``) and set up on the
loaded checkpoint by its own ``before_test``, so its objective
(``ttt_loss``), its loss scale, its parameter selection and its per-method
setup (frozen parameters, forward hooks, extra statistics) are the ones a
test run uses. For each of the first ``--num-batches`` target batches,
starting every batch from the source weights:

* ``g_obj``: the gradient of ``loss_scale · Σ ttt_loss`` (the direction the
  hook steps along), with the norm layers in ``--norm-mode`` (default
  ``eval``: frozen statistics, so that only the gradient acts; ``train``:
  the norm layers the hook would put in train mode use batch statistics and
  their running statistics move, as while adapting; ``hook``: the hook's
  own ``norm_mode``);
* ``g_sup``: the gradient of the supervised target loss — the model's own
  training losses (``decode_head.loss_by_task``, weighted as in training) on
  the batch's labels — with the model in its prediction mode;
* over the adapted parameters: the cosine of the two, both norms, and the
  same per parameter group (``backbone``, ``neck``, ``decode_head``,
  ``aux_heads.<name>``, ...) and over the main branch (``cosine_main``: the
  adapted parameters of the backbone, neck and decode head);
* the one-step look-ahead: for every learning rate ``lr`` of the grid, the
  relative change ``(L_after − L_before) / L_before`` of the supervised loss
  (and of each task's term) on the same batch and on the next batch after
  ``θ ← θ − lr · g_obj`` (one plain SGD step; ``g_obj`` includes the hook's
  loss scale, so ``lr`` is the hook's own learning rate and the grid
  contains the step the hook's SGD would take), beside two controls of the
  same step norm: a random Gaussian direction ``r`` (``random``: the mean
  of the changes after ``θ − lr·r`` and ``θ + lr·r``, so that a random
  first-order term cancels and what remains is what a blind step of that
  size costs) and the supervised gradient itself (``oracle``: the best
  first-order direction of that size);
* ``hook_step``: the same look-ahead after one step of the hook's own
  optimizer (fresh state, its learning rate, weight decay, momentum or
  Adam moments, gradient clipping);
* ``stats_only`` (norm mode ``train``): the change from the statistics the
  objective's forward moved, with the parameters untouched (``lr = 0``).

The model is restored exactly (parameters and buffers, checked) after
every look-ahead step and after every batch. ``NormStatsHook`` takes no
gradient: its gradient entries are null with a note, and in norm mode
``train`` its ``stats_only`` look-ahead is one call of its
``statistics_passes``.

The grid is ``hook_lr × 10^(k / per_decade)`` for ``k`` from
``decades[0]·per_decade`` to ``decades[1]·per_decade`` (default ×10⁻³ …
×10⁶, two points per decade: 19 rates), or ``--lrs`` (absolute values).
Writes
``--out`` (per batch, and ``summary``: ``mean_cosine``, ``mean_cosine_main``,
the mean gradient norms, the mean look-ahead per learning rate, the first
learning rate at which the step helps and the best one) and a figure
(``--fig``, default ``--out`` with ``.png``): the mean look-ahead change
against the learning rate, one line per method. ``--plot`` draws one figure
from several JSON files.
"""
import argparse
import copy
import json
import math
import os
import os.path as osp
import sys
from typing import Callable, Dict, List, Optional, Sequence

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
sys.path.insert(0, ROOT)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

#: Norm-layer modes while the objective's gradient is taken.
NORM_MODES = ('eval', 'train', 'hook')
#: A look-ahead "helps" when the supervised loss drops by more than this
#: fraction (0.01 %) and more than the random control's change.
HELP_THRESHOLD = 1e-4
#: Significant digits of the numbers in the JSON file.
JSON_DIGITS = 5
#: Parameter groups of the main branch (the supervised loss reads them).
MAIN_GROUPS = ('backbone', 'neck', 'decode_head')
ORACLE_NOTE = ('ORACLE diagnostic: it reads the target labels. Never use '
               'it to select a setting that is then reported as a test-time '
               'result.')
NO_GRADIENT_NOTE = ('{name} takes no gradient step (it changes only '
                    'normalisation statistics): no gradient, no cosine, no '
                    'look-ahead along a gradient')


# --------------------------------------------------------------- the core
def _flat(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors]) if tensors else \
        torch.zeros(0)


def cosine(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]
           ) -> Optional[float]:
    """Cosine of two gradients given as lists of tensors (computed in
    float64); None when either is zero (the angle is undefined)."""
    fa, fb = _flat(a).double(), _flat(b).double()
    na, nb = fa.norm(), fb.norm()
    if fa.numel() == 0 or na == 0 or nb == 0:
        return None
    return float(fa.dot(fb) / (na * nb))


def grad_norm(grads: Sequence[torch.Tensor]) -> float:
    """Euclidean norm of a gradient given as a list of tensors."""
    return float(_flat(grads).double().norm())


def random_direction(grads: Sequence[torch.Tensor],
                     generator: torch.Generator) -> List[torch.Tensor]:
    """A Gaussian direction shaped like ``grads`` with the same norm."""
    noise = [torch.randn(g.shape, generator=generator, dtype=torch.float64)
             for g in grads]
    n = grad_norm(noise)
    scale = grad_norm(grads) / n if n > 0 else 0.0
    return [(r * scale).to(g.dtype).to(g.device)
            for r, g in zip(noise, grads)]


def scaled_like(direction: Sequence[torch.Tensor],
                grads: Sequence[torch.Tensor]) -> Optional[List[torch.Tensor]]:
    """``direction`` rescaled to the norm of ``grads`` (None when it is 0)."""
    n = grad_norm(direction)
    if n == 0:
        return None
    scale = grad_norm(grads) / n
    return [d * scale for d in direction]


def lr_grid(hook_lr: float, decades: Sequence[float] = (-3, 6),
            per_decade: int = 2) -> List[float]:
    """``hook_lr × 10^(k / per_decade)`` for ``k`` from
    ``decades[0]·per_decade`` to ``decades[1]·per_decade`` (the factor 1,
    the hook's own rate, is on the grid when ``decades[0] <= 0``)."""
    if not (isinstance(hook_lr, (int, float)) and math.isfinite(hook_lr)
            and hook_lr > 0):
        raise ValueError(f'the hook learning rate must be > 0 to centre the '
                         f'grid on it, got {hook_lr!r}; give --lrs instead')
    lo, hi = decades
    if per_decade < 1 or hi < lo:
        raise ValueError(f'grid: need per_decade >= 1 and decades LOW <= '
                         f'HIGH, got per_decade={per_decade}, '
                         f'decades={tuple(decades)}')
    ks = range(int(round(lo * per_decade)), int(round(hi * per_decade)) + 1)
    return [float(hook_lr * 10 ** (k / per_decade)) for k in ks]


def _finite_or_none(x: float) -> Optional[float]:
    return x if x is not None and math.isfinite(x) else None


def relative_change(after: float, before: float) -> Optional[float]:
    """``(after − before) / before``; None when not finite (a step that
    blew the model up) or when ``before`` is 0."""
    if before == 0 or not math.isfinite(before):
        return None
    return _finite_or_none((after - before) / before)


class Probe:
    """What :func:`measure_batch` needs of a model and a method.

    Args:
        model: The module whose state (parameters and buffers) a look-ahead
            changes; it is restored from a snapshot after every step.
        params: The adapted parameters, as ``(name, parameter)`` pairs.
        objective: ``objective(batch)`` returns the scalar the method
            descends (its loss scale included), computed in its adapting
            mode (it may move buffers, e.g. norm statistics).
        supervised: ``supervised(batch)`` returns the supervised loss of
            the batch with the model in its prediction mode: a scalar, or a
            dict of terms (one per task) whose sum is the loss.
        optimizer: Optional ``(params) -> torch.optim.Optimizer`` building
            the method's own optimizer for the ``hook_step`` look-ahead.
        grad_clip: Max gradient norm of the method's step (or None).
        stats_update: Optional ``stats_update(batch)`` moving statistics
            without a gradient (a statistics-only method).
    """

    def __init__(self, model: nn.Module, params, objective: Callable,
                 supervised: Callable, optimizer: Optional[Callable] = None,
                 grad_clip: Optional[float] = None,
                 stats_update: Optional[Callable] = None):
        self.model = model
        self.params = list(params)
        self.objective = objective
        self.supervised = supervised
        self.optimizer = optimizer
        self.grad_clip = grad_clip
        self.stats_update = stats_update

    # -- state
    def snapshot(self) -> Dict[str, torch.Tensor]:
        return {k: v.detach().clone()
                for k, v in self.model.state_dict(keep_vars=True).items()}

    def restore(self, state: Dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            own = self.model.state_dict(keep_vars=True)
            if set(own) != set(state):
                changed = sorted(set(own) ^ set(state))[:5]
                raise RuntimeError(
                    'gradient_signal: the model state changed its keys '
                    f'during a look-ahead ({changed})')
            for k, v in own.items():
                v.copy_(state[k])

    def same_state(self, state: Dict[str, torch.Tensor]) -> bool:
        own = self.model.state_dict(keep_vars=True)
        return set(own) == set(state) and all(
            torch.equal(v.detach(), state[k]) for k, v in own.items())

    # -- losses and gradients
    def grad(self, loss: torch.Tensor, retain_graph: bool = False
             ) -> List[torch.Tensor]:
        tensors = [p for _, p in self.params]
        if not loss.requires_grad:  # depends on none of the parameters
            return [torch.zeros_like(p) for p in tensors]
        grads = torch.autograd.grad(loss, tensors, allow_unused=True,
                                    retain_graph=retain_graph)
        return [torch.zeros_like(p) if g is None else g.detach()
                for p, g in zip(tensors, grads)]

    def sup_terms(self, batch) -> Dict[str, torch.Tensor]:
        """``{'total': loss, term: value, ...}`` (the terms only when the
        supervised loss has several)."""
        out = self.supervised(batch)
        if not isinstance(out, dict):
            return dict(total=out)
        if not out or 'total' in out:
            raise ValueError('supervised(batch) must return a scalar or a '
                             "non-empty dict of terms without 'total', got "
                             f'{sorted(out)}')
        terms = dict(total=sum(out.values()))
        if len(out) > 1:
            terms.update(out)
        return terms

    def sup_values(self, batch) -> Optional[Dict[str, float]]:
        """:meth:`sup_terms` as numbers (no gradient); buffers a prediction
        mode with moving statistics would change are put back."""
        if batch is None:
            return None
        buffers = [(b, b.detach().clone()) for b in self.model.buffers()]
        try:
            with torch.no_grad():
                return {k: float(v) for k, v in self.sup_terms(batch).items()}
        finally:
            with torch.no_grad():
                for b, v in buffers:
                    b.copy_(v)

    def step(self, direction: Sequence[torch.Tensor], lr: float) -> None:
        with torch.no_grad():
            for (_, p), d in zip(self.params, direction):
                p.add_(d.to(p.dtype), alpha=-lr)


def group_of(name: str) -> str:
    """Parameter group of a parameter name: its top-level module, and the
    head name for auxiliary heads (``aux_heads.relation``)."""
    parts = name.split('.')
    if parts[0] == 'aux_heads' and len(parts) > 1:
        return '.'.join(parts[:2])
    return parts[0]


def _changes(probe: Probe, batch, next_batch, base: dict) -> dict:
    """Relative changes of every supervised term from ``base``, on the
    batch (``same``) and the next one (``next``; None without one)."""
    out = {}
    for which, b in (('same', batch), ('next', next_batch)):
        if b is None or base[which] is None:
            out[which] = None
            continue
        after = probe.sup_values(b)
        out[which] = {k: relative_change(after[k], v)
                      for k, v in base[which].items()}
    return out


def _lookahead(probe: Probe, start: Dict[str, torch.Tensor], direction,
               lrs: Sequence[float], batch, next_batch, base: dict) -> dict:
    """Relative supervised-loss change after ``θ − lr·direction`` for each
    ``lr``, from ``start``: ``same`` and ``next`` (the total loss, one value
    per ``lr``) and ``same_terms`` / ``next_terms`` (per term)."""
    curves = {'same': [], 'next': []}
    for lr in lrs:
        probe.restore(start)
        probe.step(direction, lr)
        c = _changes(probe, batch, next_batch, base)
        for which in curves:
            curves[which].append(c[which])
    probe.restore(start)
    if not probe.same_state(start):
        raise RuntimeError('gradient_signal: the model was not restored '
                           'exactly after the look-ahead')
    out = {}
    for which, per_lr in curves.items():
        if next_batch is None and which == 'next':
            out['next'] = out['next_terms'] = None
            continue
        out[which] = [c['total'] for c in per_lr]
        keys = [k for k in base[which] if k != 'total']
        out[f'{which}_terms'] = {k: [c[k] for c in per_lr] for k in keys} \
            if keys else None
    return out


def _average(a: dict, b: dict) -> dict:
    """Element-wise mean of two look-ahead records (None stays None)."""
    def mean(x, y):
        if x is None or y is None:
            return None
        if isinstance(x, dict):
            return {k: mean(x[k], y[k]) for k in x}
        if isinstance(x, list):
            return [mean(u, v) for u, v in zip(x, y)]
        return (x + y) / 2
    return mean(a, b)


def measure_batch(probe: Probe, batch, next_batch, lrs: Sequence[float],
                  generator: torch.Generator) -> dict:
    """The gradient signal of one batch (see the module docstring).

    ``batch`` and ``next_batch`` are whatever ``probe.objective`` and
    ``probe.supervised`` take (``next_batch`` may be None). The model ends
    in the state it started in (checked).
    """
    start = probe.snapshot()
    names = [n for n, _ in probe.params]
    # the supervised loss, its terms and their gradients, prediction mode
    terms = probe.sup_terms(batch)
    base_same = {k: _finite_or_none(float(v.detach()))
                 for k, v in terms.items()}
    g_terms = {}
    if probe.params:
        keys = list(terms)
        for i, k in enumerate(keys):
            g_terms[k] = probe.grad(terms[k],
                                    retain_graph=i < len(keys) - 1)
    del terms
    probe.restore(start)  # a prediction mode with moving statistics
    base = dict(same=base_same, next=probe.sup_values(next_batch))
    rec = dict(sup_loss=base_same['total'],
               sup_loss_next=None if base['next'] is None
               else base['next']['total'])
    if len(base_same) > 1:
        rec['sup_terms'] = {k: v for k, v in base_same.items()
                            if k != 'total'}
    if base_same['total'] is None:
        raise RuntimeError('the supervised loss of the batch is not finite '
                           'at the source weights')

    if probe.params:
        loss = probe.objective(batch)
        rec['objective'] = _finite_or_none(float(loss.detach()))
        g_obj = probe.grad(loss)
        del loss
    else:  # no gradient: statistics only
        g_obj = None
        rec['objective'] = None
        if probe.stats_update is not None:
            with torch.no_grad():
                probe.stats_update(batch)
    moved = probe.snapshot()  # θ0 with the statistics the objective moved
    if not probe.same_state(start):
        c = _changes(probe, batch, next_batch, base)
        rec['stats_only'] = {w: None if c[w] is None else c[w]['total']
                             for w in ('same', 'next')}
        probe.restore(moved)
    else:
        rec['stats_only'] = None

    if g_obj is not None:
        g_sup = g_terms['total']
        rec['grad_norm_objective'] = grad_norm(g_obj)
        rec['grad_norm_supervised'] = grad_norm(g_sup)
        rec['cosine'] = cosine(g_obj, g_sup)
        main = [i for i, n in enumerate(names)
                if group_of(n) in MAIN_GROUPS]
        rec['cosine_main'] = cosine([g_obj[i] for i in main],
                                    [g_sup[i] for i in main])
        if len(g_terms) > 1:
            rec['terms'] = {
                k: dict(cosine=cosine(g_obj, g),
                        grad_norm_supervised=grad_norm(g))
                for k, g in g_terms.items() if k != 'total'}
        groups = {}
        for i, n in enumerate(names):
            groups.setdefault(group_of(n), []).append(i)
        rec['groups'] = {
            g: dict(params=sum(g_obj[i].numel() for i in idx),
                    grad_norm_objective=grad_norm([g_obj[i] for i in idx]),
                    grad_norm_supervised=grad_norm([g_sup[i] for i in idx]),
                    cosine=cosine([g_obj[i] for i in idx],
                                  [g_sup[i] for i in idx]))
            for g, idx in groups.items()}
        del g_terms
        if all(math.isfinite(x) for x in (rec['grad_norm_objective'],
                                          rec['grad_norm_supervised'])):
            rec['lookahead'] = _lookahead(probe, moved, g_obj, lrs, batch,
                                          next_batch, base)
            r = random_direction(g_obj, generator)
            rec['random'] = _average(
                _lookahead(probe, moved, r, lrs, batch, next_batch, base),
                _lookahead(probe, moved, [-x for x in r], lrs, batch,
                           next_batch, base))
            oracle = scaled_like(g_sup, g_obj)
            rec['oracle'] = None if oracle is None else _lookahead(
                probe, moved, oracle, lrs, batch, next_batch, base)
        else:
            rec['lookahead'] = rec['random'] = rec['oracle'] = None
        rec['hook_step'] = _hook_step(probe, moved, g_obj, batch, next_batch,
                                      base)
    probe.restore(start)
    if not probe.same_state(start):
        raise RuntimeError('gradient_signal: the model was not restored '
                           'exactly after the batch')
    return rec


def _hook_step(probe: Probe, start, g_obj, batch, next_batch, base
               ) -> Optional[dict]:
    """Look-ahead of one step of the method's own optimizer (fresh)."""
    if probe.optimizer is None:
        return None
    tensors = [p for _, p in probe.params]
    opt = probe.optimizer(tensors)  # a fresh one: its first step
    lr = opt.param_groups[0].get('lr')
    try:
        probe.restore(start)
        for p, g in zip(tensors, g_obj):
            p.grad = g.clone()
        if probe.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(tensors, probe.grad_clip)
        opt.step()
        c = _changes(probe, batch, next_batch, base)
        out = dict(optimizer=type(opt).__name__, lr=lr)
        for w in ('same', 'next'):
            out[w] = None if c[w] is None else c[w]['total']
            terms = {k: v for k, v in (c[w] or {}).items() if k != 'total'}
            out[f'{w}_terms'] = terms or None
    finally:
        for p in tensors:
            p.grad = None
        probe.restore(start)
    return out


# ------------------------------------------------------------ the summary
def _mean(values) -> Optional[float]:
    values = list(values)
    if not values or any(v is None for v in values):
        return None
    return sum(values) / len(values)


def _mean_curves(batches, key: str, which: str, n: int) -> Optional[list]:
    curves = [b[key][which] for b in batches
              if b.get(key) and b[key].get(which) is not None]
    if not curves:
        return None
    return [_mean(c[i] for c in curves) for i in range(n)]


def first_helpful(lrs, change, control, threshold=HELP_THRESHOLD):
    """The smallest learning rate at which the mean change is below
    ``-threshold`` and more than ``threshold`` below the random control's
    (which, in norm mode train, starts from the same moved statistics: the
    gradient must add to them); None: never."""
    if change is None:
        return None
    for i, lr in enumerate(lrs):
        c = change[i]
        r = None if control is None else control[i]
        if c is not None and c < -threshold and (
                r is None or c < r - threshold):
            return lr
    return None


def summarize(batches: List[dict], lrs: Sequence[float]) -> dict:
    """Means over the batches (a mean is None when a batch has no finite
    value there, e.g. a step that blew the model up)."""
    n = len(lrs)
    cos = [b['cosine'] for b in batches if b.get('cosine') is not None]
    out = dict(
        batches=len(batches),
        mean_cosine=_mean(cos) if cos else None,
        std_cosine=(float(torch.tensor(cos, dtype=torch.float64).std())
                    if len(cos) > 1 else None),
        mean_cosine_main=_mean(
            b['cosine_main'] for b in batches
            if b.get('cosine_main') is not None) if any(
                b.get('cosine_main') is not None for b in batches) else None,
        grad_norm_objective=_mean(
            b['grad_norm_objective'] for b in batches
            if 'grad_norm_objective' in b) if batches and all(
                'grad_norm_objective' in b for b in batches) else None,
        grad_norm_supervised=_mean(
            b['grad_norm_supervised'] for b in batches
            if 'grad_norm_supervised' in b) if batches and all(
                'grad_norm_supervised' in b for b in batches) else None,
        help_threshold=HELP_THRESHOLD)
    if out['grad_norm_objective'] is not None and \
            out['grad_norm_supervised']:
        out['grad_norm_ratio'] = (out['grad_norm_objective'] /
                                  out['grad_norm_supervised'])
    groups = {}
    for b in batches:
        for g, v in (b.get('groups') or {}).items():
            groups.setdefault(g, []).append(v)
    out['groups'] = {
        g: dict(params=v[0]['params'],
                mean_cosine=_mean(x['cosine'] for x in v
                                  if x['cosine'] is not None)
                if any(x['cosine'] is not None for x in v) else None,
                grad_norm_objective=_mean(x['grad_norm_objective']
                                          for x in v),
                grad_norm_supervised=_mean(x['grad_norm_supervised']
                                           for x in v))
        for g, v in groups.items()}
    terms = {}
    for b in batches:
        for t, v in (b.get('terms') or {}).items():
            terms.setdefault(t, []).append(v)
    out['terms'] = {
        t: dict(mean_cosine=_mean(x['cosine'] for x in v
                                  if x['cosine'] is not None)
                if any(x['cosine'] is not None for x in v) else None,
                grad_norm_supervised=_mean(x['grad_norm_supervised']
                                           for x in v))
        for t, v in terms.items()}
    names = sorted({t for b in batches for t in (b.get('sup_terms') or {})})
    for key in ('lookahead', 'random', 'oracle'):
        out[key] = {w: _mean_curves(batches, key, w, n)
                    for w in ('same', 'next')}
        out[f'{key}_terms'] = {
            w: {t: _term_curve(batches, key, w, t, n) for t in names}
            if names else None for w in ('same', 'next')}
    # every task weighted alike (as Δ_TTT averages the tasks' relative
    # metric changes), beside the total loss and its training weights
    out['lookahead_task_mean'] = {
        w: None if not names else [
            _mean(out['lookahead_terms'][w][t][i]
                  if out['lookahead_terms'][w][t] is not None else None
                  for t in names) for i in range(n)]
        for w in ('same', 'next')}
    for w in ('same', 'next'):
        la, rnd = out['lookahead'][w], out['random'][w]
        out[f'first_helpful_lr_{w}'] = first_helpful(lrs, la, rnd)
        out[f'best_lr_{w}'], out[f'best_change_{w}'] = _best(lrs, la)
        if names:
            out[f'first_helpful_lr_terms_{w}'] = {
                t: first_helpful(lrs, out['lookahead_terms'][w][t],
                                 out['random_terms'][w][t]) for t in names}
            out[f'best_terms_{w}'] = {
                t: dict(zip(('lr', 'change'), _best(
                    lrs, out['lookahead_terms'][w][t]))) for t in names}
            out[f'best_lr_task_mean_{w}'], out[f'best_change_task_mean_{w}'] \
                = _best(lrs, out['lookahead_task_mean'][w])
    stats = [b['stats_only'] for b in batches if b.get('stats_only')]
    out['stats_only'] = None if not stats else {
        w: _mean(s[w] for s in stats) for w in ('same', 'next')}
    steps = [b['hook_step'] for b in batches if b.get('hook_step')]
    out['hook_step'] = None if not steps else dict(
        optimizer=steps[0]['optimizer'], lr=steps[0]['lr'],
        **{w: _mean(s[w] for s in steps) for w in ('same', 'next')})
    if steps and names:
        for w in ('same', 'next'):
            per = [s[f'{w}_terms'] for s in steps if s.get(f'{w}_terms')]
            out['hook_step'][f'{w}_terms'] = {
                t: _mean(x[t] for x in per) for t in names} if per else None
    return out


def _term_curve(batches, key: str, which: str, term: str, n: int
                ) -> Optional[list]:
    curves = [b[key][f'{which}_terms'][term] for b in batches
              if b.get(key) and b[key].get(f'{which}_terms')
              and term in b[key][f'{which}_terms']]
    if not curves:
        return None
    return [_mean(c[i] for c in curves) for i in range(n)]


def _best(lrs, curve) -> tuple:
    """``(lr, change)`` of the lowest finite change (None, None: none)."""
    if curve is None:
        return None, None
    finite = [(c, lr) for c, lr in zip(curve, lrs) if c is not None]
    if not finite:
        return None, None
    change, lr = min(finite)
    return lr, change


# ------------------------------------------------------- the mm wiring
class HookHost:
    """What a test-time hook's ``before_test``/``after_test`` read of a
    runner: the model, the message hub (the keys the checkpoint did not
    hold) and a logger."""

    def __init__(self, model: nn.Module, missing_keys: Sequence[str]):
        from mmengine.logging import MessageHub, MMLogger
        from trttt_mm.utils.checkpoint import MISSING_KEYS_INFO
        self.model = model
        self.message_hub = MessageHub.get_instance('gradient_signal')
        self.message_hub.update_info(MISSING_KEYS_INFO, list(missing_keys),
                                     resumed=False)
        self.logger = MMLogger.get_instance('gradient_signal')


def _load_test_tool():
    """tools/test.py as a module (its hook-building helpers)."""
    import importlib.util
    path = osp.join(ROOT, 'tools', 'test.py')
    spec = importlib.util.spec_from_file_location('trttt_tools_test', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def build_hook(cfg, name: str):
    """The hook ``tools/test.py --tta-hook NAME`` would add: ``cfg.ttt[NAME]``
    (after ``--cfg-options``) with ``type=NAME``."""
    from mmseg.registry import HOOKS
    test_tool = _load_test_tool()
    test_tool.check_ttt_config(cfg)
    hook_cfg = test_tool.add_tta_hook(copy.deepcopy(cfg), name)
    try:
        return HOOKS.build(dict(hook_cfg)), dict(hook_cfg)
    except (TypeError, ValueError) as e:
        raise SystemExit(f'--tta-hook {name}: cannot build the hook from '
                         f'{dict(hook_cfg)}: {e}') from e


def set_norm_mode(hook, model: nn.Module, mode: str) -> None:
    """Put ``model`` in eval mode and the norm layers the hook would adapt
    in ``mode`` (the hook's own choice of layers)."""
    setter = getattr(hook, '_set_mode', None)
    if callable(setter):
        setter(model, mode)
        return
    from trttt_mm.engine.hooks.ttt_hook import NORM_TYPES
    model.eval()
    if mode == 'train':
        for m in model.modules():
            if isinstance(m, NORM_TYPES):
                m.train()


def adapted_params(hook, model: nn.Module) -> List[tuple]:
    """``(name, parameter)`` of the parameters the set-up hook adapts."""
    chosen = getattr(hook, '_params', None)
    if chosen is None:
        raise RuntimeError(f'{type(hook).__name__} exposes no parameter '
                           'selection after before_test (expected _params)')
    ids = {id(p) for p in chosen}
    named = [(n, p) for n, p in model.named_parameters() if id(p) in ids]
    if len(named) != len(ids):
        raise RuntimeError(f'{type(hook).__name__}: some adapted parameters '
                           'are not parameters of the model')
    return named


def make_probe(model: nn.Module, hook, norm_mode: str) -> Probe:
    """The :class:`Probe` of a set-up hook on its (unwrapped) model."""
    from trttt_mm.tasks import stack_gts
    adapt_mode = hook.norm_mode if norm_mode == 'hook' else norm_mode
    predict_mode = getattr(hook, 'predict_norm_mode', 'eval')

    def forward(inputs, branches, mask=None, generator=None):
        return model(inputs, None, mode='branches', branches=branches,
                     mask=mask, generator=generator)

    def objective(batch):
        set_norm_mode(hook, model, adapt_mode)
        with torch.enable_grad():
            losses = hook.ttt_loss(forward, batch['inputs'],
                                   batch['data_samples'], batch['generator'])
            return sum(losses.values()) * hook.loss_scale

    def supervised(batch):
        set_norm_mode(hook, model, predict_mode)
        out = forward(batch['inputs'], ('main', ))['main']
        gts = stack_gts(batch['gt_samples'], model.tasks)
        losses = model.decode_head.loss_by_task(out, gts)
        if not losses:
            raise ValueError('the target batch carries no ground truth for '
                             f'the tasks {model.tasks}')
        return {k.replace('loss_', '', 1): v for k, v in losses.items()}

    params = adapted_params(hook, model)
    optimizer = None
    if params and getattr(hook, 'optimizer_cfg', None) is not None:
        from mmengine.registry import OPTIMIZERS

        def optimizer(tensors):
            cfg = dict(hook.optimizer_cfg)
            opt = getattr(hook, 'optimizer', None)
            if opt is not None:  # a rate the hook set itself (TIPI)
                cfg['lr'] = opt.param_groups[0]['lr']
            cfg['params'] = tensors
            return OPTIMIZERS.build(cfg)

    stats_update = None
    if not params and hasattr(hook, 'statistics_passes') \
            and adapt_mode == 'train':
        def stats_update(batch):
            hook.statistics_passes(lambda x: forward(x, ('main', )), model,
                                   batch['inputs'])
    return Probe(model, params, objective, supervised, optimizer=optimizer,
                 grad_clip=getattr(hook, 'grad_clip', None),
                 stats_update=stats_update)


def load_batches(cfg, split: str, n: int, model: nn.Module, device,
                 dtype) -> list:
    """The first ``n`` batches of the target stream, preprocessed as the
    hook gets them (``training=False``) and with their labels padded as in
    training (for the supervised loss)."""
    from mmengine.runner import Runner
    loader_cfg = cfg.test_dataloader if split == 'test' \
        else cfg.val_dataloader
    loader = Runner.build_dataloader(copy.deepcopy(loader_cfg), seed=None)
    batches = []
    for data in loader:
        if len(batches) == n:
            break
        gt = model.data_preprocessor(copy.deepcopy(data), True)
        x = model.data_preprocessor(data, False)
        if not torch.equal(gt['inputs'], x['inputs']):
            raise RuntimeError('the data preprocessor gives other inputs in '
                               'training mode: cannot pair labels and inputs')
        batches.append(dict(inputs=x['inputs'].to(device, dtype),
                            data_samples=x['data_samples'],
                            gt_samples=gt['data_samples']))
    return batches


def _cast_samples(samples, dtype):
    for ds in samples:
        for key in ds.keys():
            value = getattr(ds, key)
            if hasattr(value, 'data') and torch.is_tensor(value.data) and \
                    value.data.is_floating_point():
                value.data = value.data.to(dtype)
    return samples


def run(args) -> dict:
    """Measure (see the module docstring); returns the written record."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import trttt_mm  # noqa: F401  (registers the components)
    from mmseg.registry import MODELS
    from trttt_mm.utils.checkpoint import (CheckpointMismatchError,
                                           checkpoint_state_dict,
                                           load_weights, read_checkpoint)
    for path, what in ((args.config, 'config'), (args.checkpoint,
                                                 'checkpoint')):
        if not path or not osp.isfile(path):
            raise SystemExit(f'{what} file not found: {path}')
    if args.num_batches < 1:
        raise SystemExit(f'--num-batches must be >= 1, got '
                         f'{args.num_batches}')
    if args.lrs is not None and not all(
            math.isfinite(lr) and lr > 0 for lr in args.lrs):
        raise SystemExit(f'--lrs must be finite numbers > 0, got {args.lrs}')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    device = torch.device(args.device or (
        'cuda' if torch.cuda.is_available() else 'cpu'))
    dtype = getattr(torch, args.dtype)
    torch.manual_seed(args.seed)
    hook, hook_cfg = build_hook(cfg, args.tta_hook)
    model = MODELS.build(cfg.model)
    try:
        report = load_weights(model, checkpoint_state_dict(
            read_checkpoint(args.checkpoint), args.checkpoint),
            args.checkpoint, partial=False)
    except CheckpointMismatchError as e:
        raise SystemExit(f'error: {e}') from e
    model.to(device=device, dtype=dtype)
    model.eval()
    host = HookHost(model, report.not_loaded)
    batches = load_batches(cfg, args.split, args.num_batches + 1, model,
                           device, dtype)
    if not batches:
        raise SystemExit(f'the {args.split} split of {args.config} holds no '
                         'batch')
    if dtype != torch.float32:
        for b in batches:
            _cast_samples(b['gt_samples'], dtype)
    hook.before_test(host)
    try:
        probe = make_probe(model, hook, args.norm_mode)
        gen = torch.Generator().manual_seed(
            int(hook.seed) if getattr(hook, 'seed', None) is not None else 0)
        direction_gen = torch.Generator().manual_seed(args.seed)
        measured = batches[:args.num_batches]
        lrs, hook_lr, records = args.lrs, None, []
        for i, batch in enumerate(measured):
            batch['generator'] = gen
            nxt = batches[i + 1] if i + 1 < len(batches) else None
            if lrs is None and probe.params:
                hook_lr = _hook_lr(hook, probe, batch)
                lrs = lr_grid(hook_lr, args.decades, args.per_decade)
            rec = measure_batch(probe, batch, nxt, lrs or [], direction_gen)
            rec = dict(index=i, batch_size=int(batch['inputs'].shape[0]),
                       **rec)
            records.append(rec)
            print(_progress(args.tta_hook, rec), flush=True)
        if hook_lr is None and probe.params:
            opt = getattr(hook, 'optimizer', None)
            hook_lr = None if opt is None else opt.param_groups[0]['lr']
    finally:
        hook.after_test(host)
    lrs = lrs or []
    note = ORACLE_NOTE
    if not probe.params:
        note += ' ' + NO_GRADIENT_NOTE.format(name=args.tta_hook)
    result = dict(
        tool='tools/analysis/gradient_signal.py', note=note,
        label=args.label or args.tta_hook, hook=args.tta_hook,
        hook_cfg=_jsonable(hook_cfg), config=args.config,
        checkpoint=args.checkpoint, split=args.split,
        cfg_options=_jsonable(dict(args.cfg_options or {})),
        norm_mode=args.norm_mode,
        adapt_norm_mode=hook.norm_mode if args.norm_mode == 'hook'
        else args.norm_mode,
        loss_scale=getattr(hook, 'loss_scale', None), hook_lr=hook_lr,
        optimizer=(getattr(hook, 'optimizer_cfg', None) or {}).get('type')
        if probe.params else None,
        adapted_params=sum(p.numel() for _, p in probe.params),
        gradient=bool(probe.params), lrs=lrs, dtype=args.dtype,
        seed=args.seed, units='relative change of the supervised target '
        'loss, (after - before) / before', batches=records)
    result['summary'] = summarize(records, lrs)
    return result


def _hook_lr(hook, probe: Probe, batch) -> float:
    """The hook's learning rate as its step would use it (a rate the hook
    sets inside ``ttt_loss``, e.g. TIPI's per-sample rate, included)."""
    opt = getattr(hook, 'optimizer', None)
    if opt is None:
        raise SystemExit(f'{type(hook).__name__} has no optimizer; give --lrs')
    state = probe.snapshot()
    gen_state = batch['generator'].get_state()
    try:  # only for the rate the hook sets: no backward
        probe.objective(batch)
    finally:
        probe.restore(state)
        batch['generator'].set_state(gen_state)
    return float(opt.param_groups[0]['lr'])


def _progress(name, rec) -> str:
    if rec.get('cosine') is None and 'grad_norm_objective' not in rec:
        return (f'[{name}] batch {rec["index"]}: no gradient; '
                f'stats_only={rec.get("stats_only")}')

    def fmt(x):
        return 'n/a' if x is None else f'{x:.3g}'
    return (f'[{name}] batch {rec["index"]}: cosine {fmt(rec["cosine"])} '
            f'(main {fmt(rec.get("cosine_main"))}), |g_obj| '
            f'{fmt(rec["grad_norm_objective"])}, |g_sup| '
            f'{fmt(rec["grad_norm_supervised"])}')


def _jsonable(obj, digits: Optional[int] = None):
    """``obj`` with JSON types only (non-finite floats become None; floats
    rounded to ``digits`` significant digits when given)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v, digits) for v in obj]
    if isinstance(obj, float):
        if not math.isfinite(obj):
            return None
        return float(f'{obj:.{digits}g}') if digits else obj
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return repr(obj)


# ------------------------------------------------------------- the figure
def read_result(path: str) -> dict:
    """A JSON written by this tool (a clear error otherwise)."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise SystemExit(f'{path}: cannot read a gradient_signal JSON ({e})')
    if not isinstance(data, dict) or not isinstance(
            data.get('batches'), list) or not isinstance(
                data.get('lrs'), list):
        raise SystemExit(f'{path}: not a gradient_signal JSON (no batches '
                         'or lrs)')
    # the summary of this version of the tool, from the per-batch records
    data['summary'] = summarize(data['batches'], data['lrs'])
    return data


#: y range of the figures (%): a loss cannot fall by more than 100 %, and
#: a step that multiplies it by more than 11 has blown the model up.
Y_RANGE = (-100.0, 1e3)


def _panels(results: Sequence[dict], panels: str, batch: str) -> list:
    """``(title, key, which, term)`` of each panel."""
    if panels == 'total':
        return [(f'supervised target loss, {w} batch', w, None)
                for w in ('same', 'next')]
    terms = []
    for r in results:
        for t in (r['summary'].get('terms') or {}):
            if t not in terms:
                terms.append(t)
    if not terms:
        raise SystemExit('--panels tasks: the JSONs hold no per-task terms')
    return [(f'{t} loss, {batch} batch', batch, t) for t in terms] + [
        (f'mean over the tasks, {batch} batch', batch, 'task_mean')]


def _curve(summary: dict, key: str, which: str, term: Optional[str]):
    if term is None:
        return (summary.get(key) or {}).get(which)
    if term == 'task_mean':
        if key != 'lookahead':
            return None
        return (summary.get('lookahead_task_mean') or {}).get(which)
    return ((summary.get(f'{key}_terms') or {}).get(which) or {}).get(term)


def plot(results: Sequence[dict], out: str, panels: str = 'total',
         batch: str = 'same') -> None:
    """Mean look-ahead change (%) against the learning rate, one line per
    method (solid: along its gradient; dotted: the random direction of the
    same norm; a star at the method's own rate; a statistics-only method,
    or the statistics part in norm mode ``train``, as a horizontal dashed
    line). ``panels='total'``: the supervised loss on the same batch and on
    the next; ``'tasks'``: each task's loss (and their mean) on ``batch``."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    spec = _panels(results, panels, batch)
    cols = len(spec) if len(spec) <= 3 else 3
    rows = -(-len(spec) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols + 2.6,
                                                  3.9 * rows + 0.6),
                             sharey=True, squeeze=False)
    axes = list(axes.flat)
    colours = plt.get_cmap('tab10').colors + ('#000000', '#e6ab02',
                                               '#7570b3', '#a6761d')
    for ax, (title, which, term) in zip(axes, spec):
        for k, res in enumerate(results):
            c = colours[k % len(colours)]
            s = res['summary']
            lrs = res['lrs']
            la = _curve(s, 'lookahead', which, term)
            rnd = _curve(s, 'random', which, term)
            label = res.get('label', res.get('hook'))
            if la is not None:
                ys = [float('nan') if v is None else 100 * v for v in la]
                ax.plot(lrs, ys, '-', color=c, lw=1.6, label=label)
                own = [i for i, lr in enumerate(lrs)
                       if res.get('hook_lr') and math.isclose(
                           lr, res['hook_lr'], rel_tol=1e-4)]
                if own:
                    ax.plot([lrs[own[0]]], [ys[own[0]]], '*', color=c,
                            ms=11)
            if rnd is not None:
                ax.plot(lrs, [float('nan') if v is None else 100 * v
                              for v in rnd], ':', color=c, lw=1.0)
            st = (s.get('stats_only') or {}).get(which) \
                if term is None else None
            if la is None and st is None:
                ax.plot([], [], ' ', label=f'{label}: no gradient')
            if st is not None:
                ax.axhline(100 * st, color=c, ls='--', lw=1.0,
                           label=None if la is not None else
                           f'{label} (statistics only)')
        ax.axhline(0, color='k', lw=0.6)
        ax.set_xscale('log')
        if not any(r['lrs'] for r in results):  # statistics only
            ax.set_xlim(1e-6, 1.0)
        ax.set_yscale('symlog', linthresh=1e-5)
        ax.set_ylim(*Y_RANGE)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3, which='major')
    for ax in axes[len(spec):]:
        ax.axis('off')
    for i in range(0, len(axes), cols):
        axes[i].set_ylabel('relative change after one step (%)')
    fig.supxlabel('learning rate of one SGD step along the objective\'s '
                  'gradient (its loss scale included)', fontsize=10)
    handles, labels = axes[0].get_legend_handles_labels()
    handles += [plt.Line2D([], [], color='gray', ls=':'),
                plt.Line2D([], [], color='gray', ls='', marker='*', ms=10)]
    labels += ['random direction, same norm', "the method's own rate"]
    fig.legend(handles, labels, loc='center right', fontsize=8,
               frameon=False)
    fig.suptitle('One-step look-ahead of test-time objectives (ORACLE '
                 'diagnostic: reads the target labels; below 0 = the step '
                 'helps)', fontsize=10)
    fig.tight_layout(rect=(0, 0, 1 - 2.4 / (5.2 * cols + 2.6), 0.96))
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def _fmt(x, spec='+.3f') -> str:
    return 'n/a' if x is None else format(x, spec)


def _pct(x, spec='+.2g') -> str:
    return _fmt(None if x is None else 100 * x, spec)


def _best_cell(lr, change) -> str:
    if lr is None or change is None or change >= -HELP_THRESHOLD:
        return 'never'
    return f'{lr:.3g}: {100 * change:+.3g}'


def markdown_table(results: Sequence[dict]) -> str:
    """Two Markdown tables of the summaries docs/gradient_signal.md
    reports: per method (cosines, norms, the method's own step, where a
    step along its gradient helps the supervised loss), and per task."""
    tasks = []
    for r in results:
        for t in (r['summary'].get('terms') or {}):
            if t not in tasks:
                tasks.append(t)
    head = ['method', 'adapted params', 'cosine (mean ± sd)',
            'cosine, main branch', '‖g_obj‖', '‖g_sup‖', 'ratio',
            'own lr × loss scale', 'own step: Δ same / next (%)',
            'first lr that helps: same / next',
            'best lr: Δ (%), same', 'best lr: Δ (%), next']
    rows = ['| ' + ' | '.join(head) + ' |', '|' + ' --- |' * len(head)]
    head2 = ['method'] + [f'{t}: cosine; own step Δ (%); best lr: Δ (%)'
                          for t in tasks] + ['task mean: best lr: Δ (%)']
    rows2 = ['| ' + ' | '.join(head2) + ' |', '|' + ' --- |' * len(head2)]
    for r in results:
        s = r['summary']
        label = r.get('label') or r.get('hook')
        if not r.get('gradient'):
            st = s.get('stats_only')
            note = 'no gradient' if not st else (
                'no gradient; statistics only: Δ same / next '
                f"{_pct(st['same'], '+.3g')} / {_pct(st['next'], '+.3g')} %")
            rows.append(f'| {label} | 0 | {note} |' + ' |' * (len(head) - 3))
            continue
        sd = '' if s.get('std_cosine') is None else \
            f" ± {s['std_cosine']:.2f}"
        hs = s.get('hook_step') or {}
        scale = r.get('loss_scale') or 1.0
        rows.append('| ' + ' | '.join([
            label, f"{r.get('adapted_params', 0):,}",
            f"{_fmt(s.get('mean_cosine'), '+.2f')}{sd}",
            _fmt(s.get('mean_cosine_main'), '+.2f'),
            _fmt(s.get('grad_norm_objective'), '.3g'),
            _fmt(s.get('grad_norm_supervised'), '.3g'),
            _fmt(s.get('grad_norm_ratio'), '.2g'),
            f"{_fmt(r.get('hook_lr'), '.3g')} × {scale:g} "
            f"({hs.get('optimizer', '?')})",
            f"{_pct(hs.get('same'))} / {_pct(hs.get('next'))}",
            ' / '.join('never' if s.get(f'first_helpful_lr_{w}') is None
                       else f"{s[f'first_helpful_lr_{w}']:.3g}"
                       for w in ('same', 'next')),
            _best_cell(s.get('best_lr_same'), s.get('best_change_same')),
            _best_cell(s.get('best_lr_next'), s.get('best_change_next'))])
            + ' |')
        terms = s.get('terms') or {}
        best = s.get('best_terms_same') or {}
        own = hs.get('same_terms') or {}
        cells = [label]
        for t in tasks:
            b = best.get(t) or {}
            cells.append(
                f"{_fmt((terms.get(t) or {}).get('mean_cosine'), '+.2f')}; "
                f"{_pct(own.get(t))}; "
                f"{_best_cell(b.get('lr'), b.get('change'))}")
        cells.append(_best_cell(s.get('best_lr_task_mean_same'),
                                s.get('best_change_task_mean_same')))
        rows2.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(rows) + '\n\nPer task (same batch):\n\n' + \
        '\n'.join(rows2)


# --------------------------------------------------------------- the CLI
def parse_args(argv=None) -> argparse.Namespace:
    from mmengine.config import DictAction
    p = argparse.ArgumentParser(
        description='Gradient signal of a test-time objective against the '
        'supervised target loss. ORACLE diagnostic: it reads the target '
        'labels; never a rule to select a setting.',
        epilog=__doc__.split('\n\n', 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config', nargs='?')
    p.add_argument('checkpoint', nargs='?')
    p.add_argument('--tta-hook', metavar='NAME',
                   help='registered test-time hook (e.g. TRTTTHook)')
    p.add_argument('--out', metavar='FILE.json',
                   help='where to write the per-batch record and summary')
    p.add_argument('--fig', metavar='FILE.png',
                   help='the figure (default: --out with .png)')
    p.add_argument('--plot', nargs='+', metavar='JSON',
                   help='draw one figure (--fig) from several JSONs written '
                   'by this tool; nothing is measured')
    p.add_argument('--panels', choices=['total', 'tasks'], default='total',
                   help="figure panels: the total supervised loss on the "
                   "same and the next batch, or each task's loss on --batch")
    p.add_argument('--batch', choices=['same', 'next'], default='same',
                   help='batch of the per-task panels')
    p.add_argument('--table', action='store_true',
                   help='with --plot: also print a Markdown table of the '
                   'summaries')
    p.add_argument('--num-batches', type=int, default=6)
    p.add_argument('--norm-mode', choices=NORM_MODES, default='eval',
                   help="norm layers while the objective's gradient is "
                   "taken: 'eval' (default, frozen statistics), 'train' "
                   "(the hook's norm layers use batch statistics and move), "
                   "'hook' (the hook's own norm_mode)")
    p.add_argument('--lrs', nargs='+', type=float,
                   help='absolute learning rates (default: a grid around '
                   "the hook's own)")
    p.add_argument('--decades', nargs=2, type=float, default=[-3, 6],
                   metavar=('LOW', 'HIGH'),
                   help="grid from hook_lr x 10^LOW to hook_lr x 10^HIGH")
    p.add_argument('--per-decade', type=int, default=2)
    p.add_argument('--split', choices=['test', 'val'], default='test')
    p.add_argument('--label', help='name of the method in the figure '
                   '(default: the hook name)')
    p.add_argument('--seed', type=int, default=0,
                   help='seed of the random-direction control')
    p.add_argument('--dtype', choices=['float32', 'float64'],
                   default='float32')
    p.add_argument('--device', default=None)
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override settings in the config, key=value (hook '
                   'options: ttt.NAME.key=value)')
    args = p.parse_args(argv)
    if args.plot:
        if not args.fig:
            p.error('--plot needs --fig FILE.png')
        if args.config or args.checkpoint or args.tta_hook:
            p.error('--plot draws existing JSONs: no CONFIG, CKPT or '
                    '--tta-hook')
    else:
        missing = [n for n, v in (('CONFIG', args.config),
                                  ('CKPT', args.checkpoint),
                                  ('--tta-hook', args.tta_hook),
                                  ('--out', args.out)) if not v]
        if missing:
            p.error(f'measuring needs {", ".join(missing)} (or --plot '
                    'JSON ... to draw)')
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.plot:
        results = [read_result(p) for p in args.plot]
        plot(results, args.fig, args.panels, args.batch)
        print(f'wrote {args.fig}')
        out = dict(figure=args.fig, inputs=list(args.plot))
        if args.table:
            out['table'] = markdown_table(results)
            print(out['table'])
        return out
    result = run(args)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(_jsonable(result, JSON_DIGITS), f, indent=None)
    fig = args.fig or osp.splitext(args.out)[0] + '.png'
    plot([result], fig)
    s = result['summary']
    print(f'wrote {args.out} and {fig}; mean cosine {s["mean_cosine"]}, '
          f'|g_obj| {s["grad_norm_objective"]}, |g_sup| '
          f'{s["grad_norm_supervised"]}')
    return result


if __name__ == '__main__':
    main()
