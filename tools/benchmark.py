"""The method benchmark: methods x seeds x shift families, one command.

    python tools/benchmark.py configs/benchmark/synth.py [--quick]
        [--work-dir DIR] [--seeds 0 1] [--families mixed] [--methods TRTTT]
        [--select-hparams] [--no-cost] [--jobs N] [--report-only]

For every shift family of the synthetic benchmark (appearance, geometry,
content, mixed; ``trttt_mm/datasets/synthetic/families.py``), every seed and
every method of the benchmark config it

1. generates the data (cached by the generator itself);
2. trains each source model a method needs once per seed
   (``tools/train.py``; cached by resolved config, budget, data and seed;
   every source gets the same iterations and batch size), derives the
   sources that only add statistics (``tools/analysis/source_stats.py``) and
   runs second training stages (``finetune``);
3. evaluates each source model on the source validation split and, not
   adapted, on each family's target (``tools/test.py``);
4. runs each method online on each family's target stream
   (``tools/test.py CONFIG CKPT --tta-hook HOOK``, with ``TTTMonitorHook``:
   ``eval_source=True`` and the curve);
5. with ``--select-hparams``, runs each method's grid of learning rates and
   steps on a validation target (same family, another generator seed),
   picks the best final Δ_TTT there and runs it on the test target;
6. measures each method's step cost (``tools/analysis/benchmark_ttt_step.py``,
   alone, after everything else);
7. writes the results folder: ``results.json`` (every run), ``report.md``
   (Table 1 per family in the *last*, *best step* (oracle) and, with
   ``--select-hparams``, *selected* protocols; the shift table; the cost
   table; the paired comparison) and ``fig3_<family>.png``.

A unit of work that finished is skipped on the next invocation (its
``done.json`` holds a key of everything it depends on); a failed one is
retried. Methods whose hook is not registered, or whose config is missing,
are reported as not available. ``--quick`` merges the config's ``quick``
settings (one seed, one family, short schedules). Subprocesses use the GPU
when there is one (``--jobs 1``), else ``--jobs`` parallel processes share the
CPU cores.

"Step" on an online stream: batch ``b`` (1-based) is predicted after the
method has made ``s_b`` adaptation steps in all (optimizer updates, or
statistics passes for NormStatsHook) on batches ``1..b``; the curve records
the running Δ_TTT over batches ``1..b`` at ``s_b``. The *last* protocol reads
the whole stream (``b = B``); the *best step* protocol takes the best running
Δ_TTT over ``b >= ceil(min_fraction * B)``: an oracle, since it looks at the
test labels.
"""
import argparse
import copy
import hashlib
import json
import math
import os
import os.path as osp
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Sequence

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))
sys.path.insert(0, ROOT)

from trttt_mm.utils.jsonio import read_json  # noqa: E402

#: Bump when the meaning of a run's result changes (invalidates done.json).
BENCHMARK_VERSION = 1
#: Per-task keys of Table 1 (each task's primary metric), in task order.
TASK_KEYS = ('semseg/mIoU', 'depth/rmse', 'normal/mean_angle', 'edge/rmse')
TASK_LABELS = {
    'semseg/mIoU': 'mIoU ↑', 'depth/rmse': 'depth RMSE ↓',
    'normal/mean_angle': 'normal angle ↓', 'edge/rmse': 'edge RMSE ↓'
}
PROTOCOLS = ('last', 'best', 'selected')
REQUIRED_KEYS = ('families', 'seeds', 'data', 'train', 'test', 'sources',
                 'methods')


# ---------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------
def merge(base: dict, override: dict) -> dict:
    """Recursive merge of plain dicts (``override`` wins)."""
    out = copy.deepcopy(base)
    for k, v in override.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _plain(obj):
    """A ConfigDict tree as plain dicts and lists."""
    if hasattr(obj, 'to_dict'):
        obj = obj.to_dict()
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def load_benchmark_config(path: str, quick: bool = False,
                          options: Optional[dict] = None) -> dict:
    """Read a benchmark config (a Python config file of plain dicts).

    Raises:
        SystemExit: the file is missing or a required key is absent or of
            the wrong kind (naming it).
    """
    from mmengine.config import Config
    if not osp.isfile(path):
        raise SystemExit(f'benchmark config not found: {path}')
    cfg = _plain(Config.fromfile(path))
    cfg = {k: v for k, v in cfg.items() if not k.startswith('_')}
    if quick:
        if not isinstance(cfg.get('quick'), dict):
            raise SystemExit(f'{path}: --quick needs a `quick` dict in the '
                             'config')
        cfg = merge(cfg, cfg['quick'])
    for k, v in (options or {}).items():
        node = cfg
        parts = k.split('.')
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = v
    missing = [k for k in REQUIRED_KEYS if k not in cfg]
    if missing:
        raise SystemExit(f'{path}: missing key(s) {missing}; a benchmark '
                         f'config defines {list(REQUIRED_KEYS)}')
    for k in ('sources', 'methods', 'data', 'train', 'test'):
        if not isinstance(cfg[k], dict):
            raise SystemExit(f'{path}: `{k}` must be a dict, got '
                             f'{type(cfg[k]).__name__}')
    for k in ('families', 'seeds'):
        if not isinstance(cfg[k], list) or not cfg[k]:
            raise SystemExit(f'{path}: `{k}` must be a non-empty list, got '
                             f'{cfg[k]!r}')
    for label, spec in cfg['methods'].items():
        if not isinstance(spec, dict) or 'hook' not in spec or \
                'source' not in spec:
            raise SystemExit(f'{path}: methods.{label} must be a dict with '
                             f'`hook` and `source`, got {spec!r}')
        if spec['source'] not in cfg['sources']:
            raise SystemExit(f'{path}: methods.{label}.source '
                             f'{spec["source"]!r} is not a key of sources '
                             f'({list(cfg["sources"])})')
    for name, spec in cfg['sources'].items():
        if not isinstance(spec, dict) or 'config' not in spec:
            raise SystemExit(f'{path}: sources.{name} must be a dict with a '
                             f'`config`, got {spec!r}')
        parent = spec.get('from_source')
        if parent is not None and (parent not in cfg['sources'] or
                                   cfg['sources'][parent].get('from_source')):
            raise SystemExit(f'{path}: sources.{name}.from_source {parent!r} '
                             'must name a trained source (a key of sources '
                             'without from_source)')
    if cfg.get('source_only') is not None and \
            cfg['source_only'] not in cfg['sources']:
        raise SystemExit(f'{path}: source_only {cfg["source_only"]!r} is not '
                         'a key of sources')
    cfg.setdefault('work_dir', 'work_dirs/benchmark')
    cfg.setdefault('best_step', {})
    cfg['best_step'].setdefault('min_fraction', 0.25)
    cfg.setdefault('cost', {})
    cfg['cost'].setdefault('enabled', True)
    cfg['cost'].setdefault('repeats', 10)
    cfg.setdefault('hparam_selection', {})
    cfg['hparam_selection'].setdefault('lr_factors', [0.1, 1.0, 10.0])
    cfg['hparam_selection'].setdefault('steps', [1, 'default'])
    return cfg


def digest(obj) -> str:
    """A short, stable hash of a JSON-able object."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def resolved_config(path: str) -> dict:
    """The config file with its bases merged, as plain data."""
    from mmengine.config import Config
    return _plain(Config.fromfile(osp.join(ROOT, path)))


def get_dotted(d: dict, key: str):
    node = d
    for p in key.split('.'):
        if not isinstance(node, dict) or p not in node:
            return None
        node = node[p]
    return node


def flatten(d: dict, prefix: str = '') -> Dict[str, object]:
    """``{'optimizer': {'lr': 1}}`` -> ``{'optimizer.lr': 1}``."""
    out = {}
    for k, v in d.items():
        key = f'{prefix}{k}'
        if isinstance(v, dict):
            out.update(flatten(v, key + '.'))
        else:
            out[key] = v
    return out


def cfg_value(v) -> str:
    """A value as mmengine's ``--cfg-options`` parses it back."""
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (list, tuple)):
        inner = ','.join(cfg_value(x) for x in v)
        return f'[{inner}]' if isinstance(v, list) else f'({inner},)'
    return str(v)


# ---------------------------------------------------------------------------
# subprocesses
# ---------------------------------------------------------------------------
def run_process(cmd: List[str], log: str, threads: Optional[int],
                timeout: Optional[float] = None) -> dict:
    """Run ``cmd`` in the repository root, output to ``log``.

    Returns:
        ``dict(rc, wall_s, cpu_s, max_rss_mib)`` (CPU time and peak resident
        memory of that process and its children, where the OS tells).
    """
    env = dict(os.environ)
    env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
    if threads:
        for k in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
            env[k] = str(threads)
    os.makedirs(osp.dirname(log), exist_ok=True)
    t0 = time.time()
    with open(log, 'w') as f:
        f.write('$ ' + ' '.join(cmd) + '\n')
        f.flush()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=f,
                                stderr=subprocess.STDOUT, env=env)
        cpu = rss = None
        if hasattr(os, 'wait4') and timeout is None:
            _, status, usage = os.wait4(proc.pid, 0)
            rc = os.waitstatus_to_exitcode(status)
            proc.returncode = rc
            cpu = usage.ru_utime + usage.ru_stime
            rss = usage.ru_maxrss / 1024.0  # KiB on Linux
        else:
            try:
                rc = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = proc.wait()
                f.write(f'\nbenchmark: killed after {timeout} s\n')
    return dict(rc=rc, wall_s=round(time.time() - t0, 3),
                cpu_s=None if cpu is None else round(cpu, 3),
                max_rss_mib=None if rss is None else round(rss, 1))


def log_tail(log: str, n: int = 3000) -> str:
    try:
        with open(log, errors='replace') as f:
            return f.read()[-n:]
    except OSError:
        return ''


class StepFailed(RuntimeError):
    """A subprocess of a unit failed; the message holds its log's tail."""


def write_json(path: str, data) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    tmp = f'{path}.{os.getpid()}.{threading.get_ident()}.tmp'
    with open(tmp, 'w') as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------
# analysis (pure functions)
# ---------------------------------------------------------------------------
def curve_points(curve: dict, batch_size: int,
                 num_images: Optional[int] = None,
                 passes: Optional[int] = None) -> List[dict]:
    """Per batch of the stream: images seen, cumulative steps and the running
    Δ_TTT (and per-task running Δ) over the batches so far.

    ``passes``: steps per batch of a method that records no loss (the
    statistics passes of NormStatsHook), used when the curve counts none.
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


def mean_std(values: Sequence[float]):
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return None, None
    m = statistics.fmean(vals)
    s = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return m, s


def fmt_ms(m, s, digits: int = 2, signed: bool = False) -> str:
    if m is None:
        return '—'
    sign = '+' if signed else ''
    return f'{m:{sign}.{digits}f} ± {s:.{digits}f}'


def higher_is_better(key: str) -> bool:
    from trttt_mm.evaluation.delta_ttt import HIGHER, metric_direction
    return metric_direction(key) == HIGHER


def _digits(key: str) -> int:
    return 2 if key in ('semseg/mIoU', 'normal/mean_angle') else 3


def protocol_view(run: dict, protocol: str) -> Optional[dict]:
    """``dict(adapted, per_task, delta_ttt)`` of a finished test run in a
    protocol (``last``: the whole stream; ``best``: the best-step point)."""
    if run.get('status') != 'done':
        return None
    if protocol in ('last', 'selected'):
        return dict(adapted=run['adapted'], per_task=run['per_task'],
                    delta_ttt=run['delta_ttt'], base=run['base'])
    b = run.get('best_step')
    if not b:
        return None
    return dict(adapted=b.get('adapted', {}), per_task=b.get('per_task', {}),
                delta_ttt=b['delta_ttt'], base=b.get('base', {}))


def summary_table(runs: List[dict], families: Sequence[str],
                  labels: Sequence[str], protocol: str,
                  common: Optional[Dict[tuple, dict]] = None) -> str:
    """Δ_TTT (%) per method (rows) and family (columns) in one protocol,
    mean ± sample std over seeds, the best of each family in bold.

    With ``common`` ((family, seed) -> metrics of one shared reference, the
    source-only model on that target) each cell is instead the relative
    change of the method's adapted metrics against that common reference,
    so methods whose own source models start from different points are
    compared on one yardstick."""
    from trttt_mm.evaluation.delta_ttt import delta_ttt
    kind = 'selected' if protocol == 'selected' else 'test'
    cells = {}
    for label in labels:
        for f in families:
            sel = [r for r in runs if r['family'] == f and
                   r['method'] == label and r['kind'] == kind]
            d = []
            for r in sel:
                v = protocol_view(r, protocol)
                if v is None:
                    continue
                if common is None:
                    d.append(v['delta_ttt'])
                    continue
                ref = common.get((f, r.get('seed')))
                keys = [k for k in TASK_KEYS
                        if ref and k in ref and k in v['adapted']]
                if keys:
                    try:
                        d.append(delta_ttt(ref, v['adapted'],
                                           keys)['delta_ttt'])
                    except ValueError:
                        pass
            if d:
                cells[label, f] = (mean_std(d), len(d))
    shown = [lab for lab in labels if any((lab, f) in cells
                                          for f in families)]
    if not shown:
        return '_no finished run_\n'
    best = {f: max((cells[lab, f][0][0] for lab in shown
                    if (lab, f) in cells), default=None)
            for f in families}
    lines = ['| method | ' + ' | '.join(families) + ' |',
             '|' + '|'.join(['---'] * (len(families) + 1)) + '|']
    for lab in shown:
        row = [lab]
        for f in families:
            if (lab, f) not in cells:
                row.append('—')
                continue
            (m, sd), n = cells[lab, f]
            c = fmt_ms(m, sd, 1, signed=True) + (f' ({n})' if n == 1 else '')
            row.append(f'**{c}**' if m == best[f] else c)
        lines.append('| ' + ' | '.join(row) + ' |')
    return '\n'.join(lines) + '\n'


def table1(runs: List[dict], family: str, protocol: str,
           labels: Sequence[str], source_rows: Optional[List[dict]] = None,
           unavailable: Optional[Dict[str, str]] = None) -> str:
    """Markdown Table 1 of one family and protocol: per-task metrics of the
    adapted model and Δ_TTT (mean ± std over seeds, best in bold)."""
    kind = 'selected' if protocol == 'selected' else 'test'
    rows = []
    if source_rows:
        vals = {k: mean_std([r['metrics'].get(k) for r in source_rows])
                for k in TASK_KEYS}
        rows.append(('Source only', vals, (None, None), len(source_rows)))
    for label in labels:
        sel = [r for r in runs if r['family'] == family and
               r['method'] == label and r['kind'] == kind]
        views = [protocol_view(r, protocol) for r in sel]
        views = [v for v in views if v is not None]
        if not views:
            continue
        vals = {k: mean_std([v['adapted'].get(k) for v in views])
                for k in TASK_KEYS}
        rows.append((label, vals, mean_std([v['delta_ttt'] for v in views]),
                     len(views)))
    if not rows:
        return '_no finished run_\n'
    best = {}
    for k in TASK_KEYS:
        cand = [r[1][k][0] for r in rows if r[1][k][0] is not None]
        if cand:
            best[k] = max(cand) if higher_is_better(k) else min(cand)
    dcand = [r[2][0] for r in rows if r[2][0] is not None]
    best_d = max(dcand) if dcand else None
    head = ['method'] + [TASK_LABELS[k] for k in TASK_KEYS] + \
        ['Δ_TTT (%) ↑', 'seeds']
    lines = ['| ' + ' | '.join(head) + ' |',
             '|' + '|'.join(['---'] * len(head)) + '|']
    for label, vals, (dm, ds), n in rows:
        cells = [label]
        for k in TASK_KEYS:
            m, s = vals[k]
            c = fmt_ms(m, s, _digits(k))
            if m is not None and best.get(k) is not None and \
                    math.isclose(m, best[k], rel_tol=0, abs_tol=1e-12):
                c = f'**{c}**'
            cells.append(c)
        c = fmt_ms(dm, ds, 2, signed=True)
        if dm is not None and best_d is not None and \
                math.isclose(dm, best_d, rel_tol=0, abs_tol=1e-12):
            c = f'**{c}**'
        cells += [c, str(n)]
        lines.append('| ' + ' | '.join(cells) + ' |')
    for label, why in (unavailable or {}).items():
        lines.append(f'| {label} | not available: {why} |' + ' |' *
                     (len(head) - 2))
    return '\n'.join(lines) + '\n'


#: Paired comparison: a difference of at most this many Δ_TTT points is a
#: tie, not a win or a loss (run-to-run arithmetic noise; a control that
#: reproduces the reference to 1e-3 points must not count as beaten).
TIE_POINTS = 0.05


def paired(runs: List[dict], family: str, reference: str,
           labels: Sequence[str], protocol: str = 'last') -> dict:
    """Per seed: the reference method's Δ_TTT minus the best other method's
    (the methods that finished on that seed); a win when the difference is
    above :data:`TIE_POINTS`, a tie within it."""
    kind = 'selected' if protocol == 'selected' else 'test'
    by_seed: Dict[int, Dict[str, float]] = {}
    for r in runs:
        if r['family'] != family or r['kind'] != kind:
            continue
        if r['method'] not in labels:
            continue
        v = protocol_view(r, protocol)
        if v is not None:
            by_seed.setdefault(r['seed'], {})[r['method']] = v['delta_ttt']
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


#: The shift table's recovered share is reported only where the family costs
#: the source model at least this much (relative change, %): below it the
#: share divides by a gap of the size of the seed noise (shares of
#: thousands of %, any sign).
MIN_LOSS_PCT = 5.0


def shift_table(family: str, source_val: List[dict], target: List[dict],
                recovery: Dict[str, List[dict]]) -> str:
    """How much the source model loses on a family (per task, relative to
    its source validation metrics) and how much of it each method of
    ``recovery`` (label -> its test runs) recovers: the share of the gap
    between the source validation metric and the target metric that the
    adapted model closes (100 %: back to the source level; < 0: worse than
    not adapting), per seed where the target is at least
    :data:`MIN_LOSS_PCT` % worse than the source validation ("n/a" where it
    is not: no loss to recover)."""
    from trttt_mm.evaluation.delta_ttt import relative_change
    if not source_val or not target:
        return '_no finished source evaluation_\n'
    sv = {r['seed']: r['metrics'] for r in source_val}
    tg = {r['seed']: r['metrics'] for r in target}
    rcs = {lab: {r['seed']: r['adapted'] for r in runs
                 if r.get('status') == 'done'}
           for lab, runs in recovery.items()}
    head = ['task', 'source val', 'target (not adapted)', 'change (%)']
    for lab in rcs:
        head += [lab, f'{lab}: recovered (% of the loss)']
    lines = ['| ' + ' | '.join(head) + ' |',
             '|' + '|'.join(['---'] * len(head)) + '|']
    seeds = sorted(set(sv) & set(tg))
    for k in TASK_KEYS:
        seeds_k = [sd for sd in seeds if k in sv[sd] and k in tg[sd]]
        a = [sv[sd][k] for sd in seeds_k]
        b = [tg[sd][k] for sd in seeds_k]
        ch = {}
        for sd in seeds_k:
            try:
                ch[sd] = relative_change(sv[sd][k], tg[sd][k], k)
            except ValueError:
                pass
        d = _digits(k)
        cells = [TASK_LABELS[k], fmt_ms(*mean_std(a), d),
                 fmt_ms(*mean_std(b), d),
                 fmt_ms(*mean_std(list(ch.values())), 1, signed=True)]
        for rc in rcs.values():
            r, rec = [], []
            for sd in seeds_k:
                if sd in rc and k in rc[sd]:
                    r.append(rc[sd][k])
                    # the same formula for either direction of the metric
                    gap = sv[sd][k] - tg[sd][k]
                    if sd in ch and ch[sd] <= -MIN_LOSS_PCT:
                        rec.append((rc[sd][k] - tg[sd][k]) / gap * 100.0)
            if rec:
                share = fmt_ms(*mean_std(rec), 1, signed=True)
                if len(rec) < len(r):  # the seeds with a loss only
                    share += f' ({len(rec)} of {len(r)} seeds)'
            elif r:
                share = f'n/a (loss < {MIN_LOSS_PCT:g} %)'
            else:
                share = '—'
            cells += [fmt_ms(*mean_std(r), d), share]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def fig3(runs: List[dict], family: str, labels: Sequence[str],
         path: str, reference: Optional[str] = None) -> bool:
    """Running Δ_TTT over the stream (mean ± std over seeds) per method:
    a colour and a line style of its own for each (20 colours), the
    ``reference`` method thick, so that a method hidden under another one
    (a control that reproduces it) still shows; the legend beside the
    axes."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    colours = plt.get_cmap('tab20').colors
    styles = ('-', '--', '-.', ':')
    fig, ax = plt.subplots(figsize=(8.4, 4.2), dpi=110)
    drawn = 0
    for i_label, label in enumerate(labels):
        sel = [r for r in runs if r['family'] == family and
               r['method'] == label and r['kind'] == 'test' and
               r.get('status') == 'done' and r.get('curve')]
        if not sel:
            continue
        n = min(len(r['curve']) for r in sel)
        xs = [sel[0]['curve'][i]['images'] for i in range(n)]
        ys, es = [], []
        for i in range(n):
            m, s = mean_std([r['curve'][i]['delta_ttt'] for r in sel])
            ys.append(float('nan') if m is None else m)
            es.append(0.0 if s is None else s)
        spb = statistics.fmean(r['steps_per_batch'] for r in sel)
        ref = label == reference
        line, = ax.plot(xs, ys, marker='o', ms=3,
                        color=colours[(2 * i_label) % 20 + (i_label // 10)
                                      % 2],
                        ls=styles[i_label % len(styles)],
                        lw=3.5 if ref else 1.4, zorder=3 if ref else 4,
                        alpha=0.6 if ref else 1.0,
                        label=f'{label} ({spb:g} steps/batch)')
        if len(sel) > 1:
            ax.fill_between(xs, [y - e for y, e in zip(ys, es)],
                            [y + e for y, e in zip(ys, es)],
                            color=line.get_color(), alpha=0.15)
        drawn += 1
    if not drawn:
        plt.close(fig)
        return False
    ax.axhline(0.0, color='k', lw=0.8)
    ax.set_xlabel('target images seen (online stream)')
    ax.set_ylabel('running Δ_TTT (%)')
    ax.set_title(f'{family} shift: running Δ_TTT (mean ± std over seeds)')
    ax.legend(fontsize=7, loc='upper left', bbox_to_anchor=(1.01, 1.0),
              borderaxespad=0.0)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


# ---------------------------------------------------------------------------
# the benchmark
# ---------------------------------------------------------------------------
class Benchmark:
    """Plans and runs the units of work of one benchmark config."""

    def __init__(self, cfg: dict, config_path: str, work_dir: str,
                 jobs: int, threads: Optional[int], select: bool,
                 cost: bool, device: str):
        self.cfg = cfg
        self.config_path = config_path
        self.work_dir = osp.abspath(work_dir)
        self.jobs = jobs
        self.threads = threads
        self.select = select
        self.cost = cost and cfg['cost'].get('enabled', True)
        self.device = device
        self.lock = threading.Lock()
        self.results: Dict[str, dict] = {}
        self.unavailable: Dict[str, str] = {}
        self.counter = [0, 0]
        self.t0 = time.time()
        self.py = sys.executable
        self._config_cache: Dict[str, dict] = {}
        self.choices: Dict[tuple, dict] = {}
        self._cfg_lock = threading.Lock()

    # ----------------------------------------------------------- helpers
    def log(self, msg: str) -> None:
        with self.lock:
            print(msg, flush=True)

    def config(self, path: str) -> dict:
        with self._cfg_lock:
            if path not in self._config_cache:
                self._config_cache[path] = resolved_config(path)
            return self._config_cache[path]

    def data_params(self, which: str = 'test') -> dict:
        d = self.cfg['data']
        from trttt_mm.datasets.synthetic.benchmark import FORMAT_VERSION
        from trttt_mm.datasets.synthetic.families import FAMILIES_VERSION
        keys = ('seed', 'height', 'width', 'num_train', 'num_val',
                'num_target_train', 'num_target_val', 'images_per_building')
        out = {k: d[k] for k in keys if k in d}
        if which == 'val':
            out['seed'] = d.get('val_seed', 1000)
            out['num_target_val'] = self.num_images('val')
        out.update(format_version=FORMAT_VERSION,
                   families_version=FAMILIES_VERSION)
        return out

    def num_images(self, which: str = 'test') -> int:
        """Images of a family's stream (test or validation target)."""
        d = self.cfg['data']
        if which == 'val' and d.get('val_num_target_val') is not None:
            return int(d['val_num_target_val'])
        return int(d['num_target_val'])

    def data_root(self, which: str = 'test') -> str:
        """``<root>/<hash of the data parameters>``: every setting of the
        data gets its own folder (cached by the generator), none replaces
        another."""
        d = self.cfg['data']
        root = d['root'] if which == 'test' else d.get(
            'val_root', d['root'] + '_val')
        root = root if osp.isabs(root) else osp.join(ROOT, root)
        return osp.join(root, digest(self.data_params(which))[:8])

    def family_root(self, family: str, which: str = 'test') -> str:
        from trttt_mm.datasets.synthetic.families import FAMILIES
        return osp.join(self.data_root(which), FAMILIES[family].dirname)

    def record(self, rid: str, result: dict) -> None:
        with self.lock:
            self.results[rid] = result
            self.write_results()

    def write_results(self) -> None:
        path = osp.join(self.work_dir, 'results.json')
        if not hasattr(self, '_earlier_runs'):
            # runs of earlier invocations (other seeds, families or methods)
            # stay in results.json: a later invocation adds to them
            earlier = (read_json(path) or {}).get('runs', [])
            self._earlier_runs = {r['id']: r for r in earlier
                                  if isinstance(r, dict) and 'id' in r}
        runs = dict(self._earlier_runs)
        runs.update(self.results)
        write_json(path, dict(
            benchmark=dict(
                config=self.config_path, version=BENCHMARK_VERSION,
                settings=self.cfg, device=self.device, jobs=self.jobs,
                select_hparams=self.select,
                elapsed_s=round(time.time() - self.t0, 1)),
            unavailable=self.unavailable,
            selection=[dict(method=lab, family=f, **c)
                       for (lab, f), c in sorted(self.choices.items())],
            runs=sorted(runs.values(), key=lambda r: r['id'])))

    def progress(self, rid: str, res: dict, cached: bool) -> None:
        with self.lock:
            self.counter[0] += 1
            k, n = self.counter
        el = time.time() - self.t0
        extra = ''
        if res.get('status') == 'done' and res.get('delta_ttt') is not None:
            extra = f"  Δ_TTT {res['delta_ttt']:+.2f} %"
        elif res.get('status') == 'failed':
            extra = f"  FAILED ({res.get('error', '')[:120]})"
        how = 'cached' if cached else f"{res.get('wall_s', 0):.0f}s"
        self.log(f'[{k:3d}/{n:3d}] {rid:55s} {how:>7s}{extra}   '
                 f'(elapsed {el / 60:.1f} min)')

    def unit(self, rid: str, key: dict, work: str, fn,
             meta: Optional[dict] = None) -> dict:
        """Run ``fn(work) -> result`` unless ``work/done.json`` holds the same
        key; failures are recorded with ``meta`` (what the unit is) and
        retried next time."""
        key = dict(key, benchmark_version=BENCHMARK_VERSION)
        k = digest(key)
        done = read_json(osp.join(work, 'done.json'))
        if done and done.get('key') == k and done.get('result', {}).get(
                'status') == 'done':
            res = done['result']
            self.record(rid, res)
            self.progress(rid, res, True)
            return res
        t = time.time()
        try:
            res = fn(work)
            res['status'] = 'done'
        except StepFailed as e:
            res = dict(meta or {}, status='failed', error=str(e))
        except Exception as e:  # a result that cannot be read: keep going
            res = dict(meta or {}, status='failed',
                       error=f'{type(e).__name__}: {e} (in the benchmark, '
                       f'reading the results of {rid})')
        res.setdefault('id', rid)
        res.setdefault('wall_s', round(time.time() - t, 3))
        if res['status'] == 'done':
            write_json(osp.join(work, 'done.json'), dict(key=k, result=res,
                                                         key_data=key))
        self.record(rid, res)
        self.progress(rid, res, False)
        return res

    def call(self, cmd: List[str], log: str,
             threads: Optional[int] = None) -> dict:
        info = run_process(cmd, log, threads or self.threads)
        if info['rc'] != 0:
            raise StepFailed(f'exit code {info["rc"]}: {" ".join(cmd[:4])} '
                             f'...; log {log}:\n{log_tail(log, 1500)}')
        return info

    # ------------------------------------------------------ availability
    def check_methods(self, labels: Sequence[str]) -> List[str]:
        import trttt_mm  # noqa: F401  (registers the hooks)
        from mmseg.registry import HOOKS

        from trttt_mm.engine.hooks import BaseTTTHook
        ok = []
        for label in labels:
            spec = self.cfg['methods'][label]
            cls = HOOKS.get(spec['hook'])
            why = None
            if cls is None or not (isinstance(cls, type) and
                                   issubclass(cls, BaseTTTHook)):
                why = (f'hook {spec["hook"]!r} is not a registered test-time '
                       'hook (not implemented yet?)')
            else:
                for path in self.source_configs(spec['source']):
                    if not osp.isfile(osp.join(ROOT, path)):
                        why = f'source config {path} does not exist'
                        break
            if why:
                self.unavailable[label] = why
                self.log(f'not available: {label}: {why}')
            else:
                ok.append(label)
        return ok

    def source_configs(self, name: str) -> List[str]:
        spec = self.cfg['sources'][name]
        out = [spec['config']]
        if spec.get('from_source'):
            out += self.source_configs(spec['from_source'])
        if spec.get('finetune'):
            out.append(spec['finetune']['config'])
        return out

    # ----------------------------------------------------------- sources
    def data_options(self, which: str = 'test') -> List[str]:
        root = osp.join(self.data_root(which), 'taskonomy')
        b = int(self.cfg['train']['batch_size'])
        tb = int(self.cfg['test']['batch_size'])
        return [f'train_dataloader.dataset.data_root={root}',
                f'val_dataloader.dataset.data_root={root}',
                f'train_dataloader.batch_size={b}',
                f'val_dataloader.batch_size={tb}']

    def schedule_options(self, config: str, iters: int) -> List[str]:
        cfg = self.config(config)
        opts = [f'train_cfg.max_iters={iters}',
                f'train_cfg.val_begin={iters + 1}',
                f'train_cfg.val_interval={iters}',
                f'default_hooks.checkpoint.interval={iters}']
        for i, s in enumerate(cfg.get('param_scheduler') or []):
            if s.get('by_epoch', False):
                raise SystemExit(f'{config}: param_scheduler.{i} is by '
                                 'epoch; the benchmark shortens iteration '
                                 'schedules only')
            if 'milestones' in s:
                raise SystemExit(f'{config}: param_scheduler.{i} has '
                                 'milestones; the benchmark cannot shorten '
                                 'it')
            opts.append(f'param_scheduler.{i}.end={iters}')
            if 'T_max' in s:
                opts.append(f'param_scheduler.{i}.T_max={iters}')
        return opts

    def source_key(self, name: str, seed: int) -> dict:
        spec = self.cfg['sources'][name]
        key = dict(source=name, config=spec['config'],
                   resolved=digest(self.config(spec['config'])),
                   train=self.cfg['train'], data=self.data_params(),
                   seed=int(seed))
        if spec.get('from_source'):
            key['parent'] = self.source_key(spec['from_source'], seed)
            key.pop('train')
        if spec.get('finetune'):
            ft = spec['finetune']
            key['finetune'] = dict(ft, resolved=digest(self.config(
                ft['config'])))
        return key

    def source_dir(self, name: str, seed: int) -> str:
        key = digest(self.source_key(name, seed))[:8]
        return osp.join(self.work_dir, 'sources', f'{name}_seed{seed}_{key}')

    def build_source(self, name: str, seed: int) -> dict:
        spec = self.cfg['sources'][name]
        rid = f'source/{name}/seed{seed}'

        def fn(work):
            info = dict(kind='source', source=name, seed=seed,
                        config=spec['config'], steps=[])
            if spec.get('from_source'):
                parent = self.results.get(
                    f'source/{spec["from_source"]}/seed{seed}')
                if not parent or parent.get('status') != 'done':
                    raise StepFailed(f'parent source {spec["from_source"]} '
                                     f'(seed {seed}) is not trained')
                ckpt = osp.join(work, 'source_stats.pth')
                if osp.exists(ckpt):
                    os.remove(ckpt)
                r = self.call([
                    self.py, 'tools/analysis/source_stats.py', spec['config'],
                    parent['checkpoint'], '--out', ckpt, '--cfg-options',
                    *self.data_options()
                ], osp.join(work, 'source_stats.log'))
                info['steps'].append(dict(step='source_stats', **r))
            else:
                iters = int(self.cfg['train']['iters'])
                tw = osp.join(work, 'train')
                r = self.call([
                    self.py, 'tools/train.py', spec['config'], '--work-dir',
                    tw, '--cfg-options', f'randomness.seed={seed}',
                    *self.schedule_options(spec['config'], iters),
                    *self.data_options()
                ], osp.join(work, 'train.log'))
                info['steps'].append(dict(step='train', iters=iters, **r))
                ckpt = osp.join(tw, f'iter_{iters}.pth')
            if spec.get('finetune'):
                ft = spec['finetune']
                iters = int(ft['iters'])
                fw = osp.join(work, 'finetune')
                r = self.call([
                    self.py, 'tools/train.py', ft['config'], '--work-dir', fw,
                    '--cfg-options', f'randomness.seed={seed}',
                    f'load_from={ckpt}',
                    *self.schedule_options(ft['config'], iters),
                    *self.data_options()
                ], osp.join(work, 'finetune.log'))
                info['steps'].append(dict(step='finetune', iters=iters, **r))
                ckpt = osp.join(fw, f'iter_{iters}.pth')
            if not osp.isfile(ckpt):
                raise StepFailed(f'source {name}: no checkpoint {ckpt}')
            info['checkpoint'] = ckpt
            info['cpu_s'] = sum(s.get('cpu_s') or 0 for s in info['steps'])
            return info

        return self.unit(rid, self.source_key(name, seed),
                         self.source_dir(name, seed), fn,
                         dict(kind='source', source=name, seed=seed,
                              config=spec['config']))

    # ------------------------------------------------------------- tests
    def test_options(self, family: Optional[str], seed: int,
                     which: str = 'test') -> List[str]:
        b = int(self.cfg['test']['batch_size'])
        opts = [f'randomness.seed={seed}']
        if family is None:  # the source validation split
            root = osp.join(self.data_root(which), 'taskonomy')
            return opts + [f'val_dataloader.dataset.data_root={root}',
                           f'val_dataloader.batch_size={b}']
        return opts + [
            f'test_dataloader.dataset.data_root='
            f'{self.family_root(family, which)}',
            f'test_dataloader.batch_size={b}'
        ]

    def eval_source(self, name: str, seed: int,
                    family: Optional[str]) -> dict:
        """The source model, not adapted: on the source validation split
        (``family=None``) or on a family's target."""
        src = self.results.get(f'source/{name}/seed{seed}')
        where = family or 'source_val'
        rid = f'eval/{where}/{name}/seed{seed}'
        if not src or src.get('status') != 'done':
            res = dict(id=rid, kind='eval', source=name, seed=seed,
                       family=where, status='failed',
                       error=f'source {name} seed {seed} not trained')
            self.record(rid, res)
            self.progress(rid, res, False)
            return res
        config = self.cfg['sources'][name]['config']
        key = dict(source=self.source_key(name, seed), family=where,
                   test=self.cfg['test'])

        def fn(work):
            out = osp.join(work, 'metrics.json')
            cmd = [self.py, 'tools/test.py', config, src['checkpoint'],
                   '--work-dir', work, '--metrics-out', out]
            if family is None:
                cmd += ['--split', 'val']
            cmd += ['--cfg-options', *self.test_options(family, seed)]
            r = self.call(cmd, osp.join(work, 'test.log'))
            m = read_json(out) or {}
            return dict(kind='eval', source=name, seed=seed,
                        family=where, metrics={k: m[k] for k in TASK_KEYS
                                               if k in m}, **r)

        return self.unit(rid, key, osp.join(self.work_dir, 'eval', where,
                                            f'{name}_seed{seed}'), fn,
                         dict(kind='eval', source=name, seed=seed,
                              family=where))

    def method_defaults(self, label: str) -> dict:
        spec = self.cfg['methods'][label]
        cfg = self.config(self.cfg['sources'][spec['source']]['config'])
        hook = dict((cfg.get('ttt') or {}).get(spec['hook']) or {})
        return merge(hook, spec.get('overrides') or {})

    def run_method(self, label: str, seed: int, family: str,
                   overrides: Optional[dict] = None, which: str = 'test',
                   kind: str = 'test', tag: str = '') -> dict:
        spec = self.cfg['methods'][label]
        src_name = spec['source']
        src = self.results.get(f'source/{src_name}/seed{seed}')
        rid = f'{kind}/{family}/{label}/seed{seed}' + (f'/{tag}' if tag
                                                       else '')
        base = dict(id=rid, kind=kind, method=label, hook=spec['hook'],
                    source=src_name, seed=seed, family=family, which=which)
        if not src or src.get('status') != 'done':
            res = dict(base, status='failed',
                       error=f'source {src_name} seed {seed} not trained')
            self.record(rid, res)
            self.progress(rid, res, False)
            return res
        over = merge(spec.get('overrides') or {}, overrides or {})
        config = self.cfg['sources'][src_name]['config']
        key = dict(source=self.source_key(src_name, seed), method=label,
                   hook=spec['hook'], overrides=over, family=family,
                   which=which, data=self.data_params(which),
                   test=self.cfg['test'],
                   resolved=digest(self.config(config)))
        hook = spec['hook']
        b = int(self.cfg['test']['batch_size'])
        n_img = self.num_images(which)

        def fn(work):
            out = osp.join(work, 'metrics.json')
            opts = self.test_options(family, seed, which) + [
                f'ttt.{hook}.seed={seed}',
                'ttt.TTTMonitorHook.eval_source=True',
                'ttt.TTTMonitorHook.curve=True'
            ] + [f'ttt.{hook}.{k}={cfg_value(v)}'
                 for k, v in flatten(over).items()]
            r = self.call([
                self.py, 'tools/test.py', config, src['checkpoint'],
                '--tta-hook', hook, '--work-dir', work, '--metrics-out', out,
                '--cfg-options', *opts
            ], osp.join(work, 'test.log'))
            m = read_json(out)
            curve = read_json(osp.join(work, 'ttt_curve.json'))
            if not m or 'delta_ttt' not in m:
                raise StepFailed(f'{rid}: no Δ_TTT in {out}')
            passes = get_dotted(merge(self.method_defaults(label), over),
                                spec.get('steps_key') or 'steps')
            passes = passes if isinstance(passes, int) else None
            points = curve_points(curve or {}, b, n_img, passes)
            spb = [p['steps'] for p in points]
            spb = [y - x for x, y in zip([0] + spb[:-1], spb)]
            res = dict(
                base,
                overrides=over,
                adapted={k: m[k] for k in TASK_KEYS if k in m},
                base={k: m[f'base/{k}'] for k in TASK_KEYS
                      if f'base/{k}' in m},
                per_task={k: m[f'delta/{k}'] for k in TASK_KEYS
                          if f'delta/{k}' in m},
                delta_ttt=m['delta_ttt'],
                steps=m.get('ttt/steps'),
                nonfinite_skips=m.get('ttt/nonfinite_skips'),
                steps_per_batch=(statistics.fmean(spb) if spb else 0.0),
                curve=[{k: p[k] for k in ('batch', 'images', 'steps',
                                          'delta_ttt')} for p in points],
                best_step=best_step(points,
                                    self.cfg['best_step']['min_fraction']),
                num_images=n_img, batch_size=b, **r)
            return res

        sub = osp.join(self.work_dir, kind, family, label, f'seed{seed}',
                       tag)
        return self.unit(rid, key, sub, fn, base)

    # ---------------------------------------------------------- hparams
    def grid(self, label: str) -> List[dict]:
        """The method's grid: its learning rate x factors, its steps in the
        configured list (explicit ``grid`` in the method spec wins)."""
        spec = self.cfg['methods'][label]
        if spec.get('grid'):
            keys = list(spec['grid'])
            combos = [{}]
            for k in keys:
                combos = [dict(c, **{k: v}) for c in combos
                          for v in spec['grid'][k]]
            return combos
        hs = self.cfg['hparam_selection']
        defaults = self.method_defaults(label)
        lr_key = spec.get('lr_key', 'optimizer.lr')
        steps_key = spec.get('steps_key', 'steps')
        lrs, steps = [None], [None]
        lr = get_dotted(defaults, lr_key) if lr_key else None
        if isinstance(lr, (int, float)) and not isinstance(lr, bool):
            lrs = [lr * f for f in hs['lr_factors']]
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

    @staticmethod
    def tag(combo: dict) -> str:
        if not combo:
            return 'default'
        return '_'.join(f'{k.replace(".", "-")}={v:g}' if isinstance(
            v, float) else f'{k.replace(".", "-")}={v}'
            for k, v in combo.items())

    @staticmethod
    def nested(combo: dict) -> dict:
        out: dict = {}
        for k, v in combo.items():
            node = out
            parts = k.split('.')
            for p in parts[:-1]:
                node = node.setdefault(p, {})
            node[parts[-1]] = v
        return out

    def selection_seeds(self, seeds: Sequence[int]) -> List[int]:
        """The seeds whose source models the grids run on: ``'all'``,
        ``'first'`` (default) or a list (``hparam_selection.seeds``)."""
        which = self.cfg['hparam_selection'].get('seeds', 'first')
        if which == 'all':
            return list(seeds)
        if which == 'first':
            return list(seeds[:1])
        if not isinstance(which, (list, tuple)) or not which:
            raise SystemExit("hparam_selection.seeds must be 'all', "
                             f"'first' or a list of seeds, got {which!r}")
        return [int(x) for x in which]

    def is_default(self, label: str, combo: dict) -> bool:
        defaults = self.method_defaults(label)
        for k, v in combo.items():
            d = get_dotted(defaults, k)
            if not isinstance(d, (int, float)) or isinstance(d, bool) or \
                    not math.isclose(float(d), float(v), rel_tol=1e-9):
                return False
        return True

    def select_hparams(self, families: Sequence[str], seeds: Sequence[int],
                       labels: Sequence[str], grids: Dict[str, list]) -> None:
        """Grids on the validation target (the selection seeds' sources),
        the best mean final Δ_TTT per (method, family), then that setting on
        the test target for every seed. A selected setting equal to the
        method's default reuses its test run."""
        sel_seeds = self.selection_seeds(seeds)

        def pmap(fn, items):
            with ThreadPoolExecutor(max_workers=self.jobs) as ex:
                return list(ex.map(lambda a: fn(*a), items))

        pmap(self.run_method, [
            (lab, seed, f, self.nested(c), 'val', 'val', self.tag(c))
            for lab in labels for c in grids[lab] for f in families
            for seed in sel_seeds
        ])
        items = []
        for lab in labels:
            for f in families:
                scores = []
                for c in grids[lab]:
                    vals = [self.results.get(
                        f'val/{f}/{lab}/seed{seed}/{self.tag(c)}')
                        for seed in sel_seeds]
                    vals = [v['delta_ttt'] for v in vals
                            if v and v.get('status') == 'done']
                    if len(vals) == len(sel_seeds):
                        scores.append((statistics.fmean(vals), c))
                if not scores:
                    continue
                # ties (within 0.001 percentage points) go to the method's
                # default setting
                top = max(v for v, _ in scores)
                tied = [c for v, c in scores if v >= top - 1e-3]
                dflt = [c for c in tied if self.is_default(lab, c)]
                best = dflt[0] if dflt else max(scores,
                                                key=lambda x: x[0])[1]
                self.choices[(lab, f)] = dict(
                    setting=best, tag=self.tag(best),
                    validation_delta=max(x[0] for x in scores),
                    grid=[dict(setting=c, validation_delta=v)
                          for v, c in scores],
                    default=self.is_default(lab, best))
                for seed in seeds:
                    if self.is_default(lab, best):
                        test = self.results.get(f'test/{f}/{lab}/seed{seed}')
                        rid = f'selected/{f}/{lab}/seed{seed}/{self.tag(best)}'
                        if test and test.get('status') == 'done':
                            self.record(rid, dict(test, id=rid,
                                                  kind='selected',
                                                  reused=test['id']))
                            self.progress(rid, self.results[rid], True)
                            continue
                    items.append((lab, seed, f, self.nested(best), 'test',
                                  'selected', self.tag(best)))
        pmap(self.run_method, items)

    # ------------------------------------------------------------- cost
    def measure_cost(self, label: str) -> dict:
        spec = self.cfg['methods'][label]
        config = self.cfg['sources'][spec['source']]['config']
        rid = f'cost/{label}'
        d = self.cfg['data']
        b = int(self.cfg['test']['batch_size'])
        key = dict(method=label, hook=spec['hook'], config=config,
                   resolved=digest(self.config(config)), batch=b,
                   size=[d['height'], d['width']],
                   repeats=self.cfg['cost']['repeats'], device=self.device)

        def fn(work):
            log = osp.join(work, 'cost.log')
            r = self.call([
                self.py, 'tools/analysis/benchmark_ttt_step.py', config,
                '--hook', spec['hook'], '--batch-size', str(b), '--height',
                str(d['height']), '--width', str(d['width']), '--repeats',
                str(self.cfg['cost']['repeats'])
            ], log, threads=os.cpu_count() if self.device == 'cpu' else None)
            text = log_tail(log, 200000)
            start = text.rfind('\n{')
            try:
                m = json.loads(text[start + 1:])
            except ValueError:
                raise StepFailed(f'{rid}: no JSON result in {log}') from None
            return dict(kind='cost', method=label, hook=spec['hook'],
                        micro=m, **r)

        return self.unit(rid, key, osp.join(self.work_dir, 'cost', label),
                         fn, dict(kind='cost', method=label,
                                  hook=spec['hook']))

    # ------------------------------------------------------------- plan
    def run(self, families: Sequence[str], seeds: Sequence[int],
            labels: Sequence[str]) -> int:
        from trttt_mm.datasets.synthetic import generate_benchmark
        d = self.cfg['data']
        counts = dict(num_train=d['num_train'], num_val=d['num_val'],
                      num_target_train=d['num_target_train'],
                      num_target_val=d['num_target_val'],
                      height=d['height'], width=d['width'],
                      images_per_building=d['images_per_building'])
        self.log(f'data: {self.data_root()} (all shift families)')
        try:
            generate_benchmark(self.data_root(), seed=d['seed'],
                               layouts=('taskonomy', 'nyudv2'),
                               families='all', progress=False, **counts)
            if self.select:
                self.log(f'validation data: {self.data_root("val")}')
                generate_benchmark(self.data_root('val'),
                                   seed=d.get('val_seed', 1000),
                                   layouts=('nyudv2', ), families='all',
                                   progress=False, **dict(
                                       counts, num_target_val=self.num_images(
                                           'val')))
        except (FileExistsError, ValueError) as e:
            raise SystemExit(f'benchmark data: {e}') from None

        labels = self.check_methods(labels)
        spec_m = self.cfg['methods']
        sources = []
        for label in labels:
            s = spec_m[label]['source']
            chain = [s]
            if self.cfg['sources'][s].get('from_source'):
                chain.insert(0, self.cfg['sources'][s]['from_source'])
            for c in chain:
                if c not in sources:
                    sources.append(c)
        so = self.cfg.get('source_only')
        if so and so not in sources:
            if all(osp.isfile(osp.join(ROOT, p))
                   for p in self.source_configs(so)):
                sources.insert(0, so)
            else:
                so = None
        trained = [s for s in sources
                   if not self.cfg['sources'][s].get('from_source')]
        derived = [s for s in sources if s not in trained]
        grids = {lab: self.grid(lab) for lab in labels} if self.select \
            else {}
        val_eval = bool(self.cfg.get('eval_source_val', True))
        n = (len(sources) * len(seeds) * (1 + val_eval)  # train (+ val)
             + (len(families) * len(seeds) if so else 0)
             + len(labels) * len(seeds) * len(families)
             + (len(labels) if self.cost else 0)
             + sum(len(g) * len(self.selection_seeds(seeds)) + len(seeds)
                   for g in grids.values()) * len(families))
        self.counter = [0, n]
        self.log(f'{len(labels)} method(s) x {len(seeds)} seed(s) x '
                 f'{len(families)} famil(ies); {len(sources)} source '
                 f'model(s); {n} units; {self.jobs} job(s) x '
                 f'{self.threads or "default"} thread(s); device '
                 f'{self.device}')

        def pmap(fn, items):
            with ThreadPoolExecutor(max_workers=self.jobs) as ex:
                return list(ex.map(lambda a: fn(*a), items))

        pmap(self.build_source, [(s, seed) for s in trained for seed in seeds])
        pmap(self.build_source, [(s, seed) for s in derived for seed in seeds])
        evals = [(s, seed, None) for s in sources for seed in seeds] \
            if val_eval else []
        if so:
            evals += [(so, seed, f) for f in families for seed in seeds]
        pmap(self.eval_source, evals)
        items = [(lab, seed, f) for lab in labels for f in families
                 for seed in seeds]
        pmap(self.run_method, items)
        if self.select:
            self.select_hparams(families, seeds, labels, grids)
        if self.cost:
            # alone: timings are not disturbed by other jobs
            for lab in labels:
                self.measure_cost(lab)
        self.write_results()
        self.report(families, seeds, labels)
        failed = [r['id'] for r in self.results.values()
                  if r.get('status') == 'failed']
        if failed:
            self.log(f'{len(failed)} unit(s) failed (retried on the next '
                     f'invocation): {failed[:10]}')
        self.log(f'benchmark finished in {(time.time() - self.t0) / 60:.1f}'
                 f' min; results in {self.work_dir}')
        # a step-cost measurement that fails leaves a gap in the cost table
        # (reported), not in the results: the exit status ignores it
        return 1 if any(not f.startswith('cost/') for f in failed) else 0

    # ----------------------------------------------------------- report
    def report(self, families: Sequence[str], seeds: Sequence[int],
               labels: Sequence[str]) -> str:
        runs = list(self.results.values())
        runs = [r for r in runs if 'family' in r and 'method' in r]
        evals = [r for r in self.results.values()
                 if r.get('kind') == 'eval' and r.get('status') == 'done']
        so = self.cfg.get('source_only')
        ref = self.cfg.get('reference')
        rec_labels = self.cfg.get('recovery_method') or []
        if isinstance(rec_labels, str):
            rec_labels = [rec_labels]
        rec_labels = [lab for lab in rec_labels if lab in labels]
        d, t = self.cfg['data'], self.cfg['train']
        lines = [
            '# Benchmark report', '',
            f'Config `{self.config_path}`; {len(seeds)} seed(s) {list(seeds)}'
            f'; image size {d["height"]}×{d["width"]}; source training '
            f'{t["iters"]} iterations × batch {t["batch_size"]} for every '
            f'source; test stream {d["num_target_val"]} images per family in '
            f'batches of {self.cfg["test"]["batch_size"]}; device '
            f'{self.device}. Table cells: mean ± sample std over seeds; '
            'Δ_TTT of each method against its own source model on the same '
            'batches; best in bold.', ''
        ]
        if self.unavailable:
            lines += ['Not available: ' + '; '.join(
                f'{k} ({v})' for k, v in self.unavailable.items()), '']
        protocols = ['last', 'best'] + (['selected'] if self.select else [])
        titles = {
            'last': 'last (the whole stream, each method\'s default schedule)',
            'best': 'best step (ORACLE: the best running Δ_TTT over stream '
                    f'prefixes of at least '
                    f'{self.cfg["best_step"]["min_fraction"]:.0%} of the '
                    'batches; it looks at the test labels)',
            'selected': 'selected (learning rate and steps picked on the '
                        'validation target, another generator seed; no test '
                        'labels)'
        }
        lines += ['## Summary: Δ_TTT (%) per method and family', '']
        for p in protocols:
            lines += [f'*{titles[p]}*', '',
                      summary_table(runs, families, labels, p)]
        common = {(r['family'], r.get('seed')): r['metrics'] for r in evals
                  if r.get('source') == so and r['family'] != 'source_val'}
        if common:
            lines += [
                '## Summary on a common reference: change (%) against the '
                'source-only model', '',
                'Δ_TTT compares each method with *its own* source model; the '
                'methods with an auxiliary task train their own, which start '
                'from different points on the target. Here every adapted '
                f'model is compared with the same one, `{so}` not adapted, on '
                'the same target and seed (mean relative change over the '
                'tasks, as Δ_TTT).', '']
            for p in [q for q in protocols if q != 'best']:
                lines += [f'*{titles[p]}*', '',
                          summary_table(runs, families, labels, p, common)]
        figures = {}
        for f in families:
            lines += [f'## Family `{f}`', '']
            sv = [r for r in evals if r['family'] == 'source_val'
                  and r['source'] == so]
            tg = [r for r in evals if r['family'] == f and r['source'] == so]
            rec = {lab: [r for r in runs if r['family'] == f and
                         r['method'] == lab and r['kind'] == 'test']
                   for lab in rec_labels}
            verb = 'recover' if len(rec_labels) > 1 else 'recovers'
            lines += ['### Shift: what the source model loses, what '
                      f'{" and ".join(rec_labels) or "a method"} {verb}',
                      '', shift_table(f, sv, tg, rec)]
            for p in protocols:
                lines += [f'### Table 1, {titles[p]}', '',
                          table1(runs, f, p, labels,
                                 tg if p != 'best' else None,
                                 self.unavailable)]
            png = osp.join(self.work_dir, f'fig3_{f}.png')
            if fig3(runs, f, labels, png, ref):
                figures[f] = png
                lines += [f'![Fig. 3, {f}](fig3_{f}.png)', '']
            if ref:
                lines += ['### Paired comparison: '
                          f'{ref} minus the best other method, per seed', '']
                for p in protocols:
                    pc = paired(runs, f, ref, labels, p)
                    tie = (f', ties (within {TIE_POINTS:g} points) on '
                           f'{pc["ties"]}' if pc['ties'] else '')
                    lines.append(f'*{p}*: {ref} wins on {pc["wins"]}{tie} '
                                 f'of {pc["seeds"]} seed(s).')
                    lines.append('')
                    if pc['rows']:
                        lines += ['| seed | ' + ref + ' Δ_TTT | best other '
                                  '| its Δ_TTT | difference |',
                                  '|---|---|---|---|---|']
                        for r in pc['rows']:
                            lines.append(
                                f'| {r["seed"]} | {r["reference"]:+.2f} | '
                                f'{r["best_other"]} | '
                                f'{r["best_other_delta"]:+.2f} | '
                                f'{r["diff"]:+.2f} |')
                        lines.append('')
        lines += ['## Cost', '', self.cost_table(labels)]
        if self.select:
            lines += ['## Selected hyper-parameters', '',
                      self.selection_table(families, labels)]
        failed = [r for r in self.results.values()
                  if r.get('status') == 'failed']
        if failed:
            lines += ['## Failed units', '']
            lines += [f'- `{r["id"]}`: {r.get("error", "")[:300]}'
                      .replace('\n', ' ') for r in failed]
        text = '\n'.join(lines) + '\n'
        with open(osp.join(self.work_dir, 'report.md'), 'w') as fh:
            fh.write(text)
        return text

    def cost_table(self, labels: Sequence[str]) -> str:
        head = ('| method | steps / batch | step time (s) | plain fwd+bwd '
                '(s) | step / plain | adaptation images/s | run images/s '
                '(end to end) | peak memory (MiB): step / run |')
        lines = [head, '|---|---|---|---|---|---|---|---|']
        for lab in labels:
            tests = [r for r in self.results.values()
                     if r.get('kind') == 'test' and r.get('method') == lab
                     and r.get('status') == 'done']
            cost = self.results.get(f'cost/{lab}')
            micro = (cost or {}).get('micro') or {}
            spb = statistics.fmean(r['steps_per_batch'] for r in tests) \
                if tests else None
            step = micro.get('ttt_step_s')
            plain = micro.get('plain_fwd_bwd_s')
            ratio = micro.get('ratio')
            b = int(self.cfg['test']['batch_size'])
            adapt = (b / (spb * step)) if spb and step else None
            run_ips = statistics.fmean(
                r['num_images'] / r['wall_s'] for r in tests) \
                if tests else None
            rss = max((r.get('max_rss_mib') or 0) for r in tests) \
                if tests else None
            peak = micro.get('peak_mem_mib_after_ttt')

            def f(v, fmt):
                return '—' if v is None else format(v, fmt)

            note = ''
            if cost and cost.get('status') == 'failed':
                note = ' (step not measured: see failed units)'
            lines.append(
                f'| {lab}{note} | {f(spb, "g")} | {f(step, ".4f")} | '
                f'{f(plain, ".4f")} | {f(ratio, ".2f")} | {f(adapt, ".1f")} '
                f'| {f(run_ips, ".2f")} | {f(peak, ".0f")} / '
                f'{f(rss, ".0f")} |')
        lines.append('')
        lines.append(
            'Step time and plain forward+backward: '
            '`tools/analysis/benchmark_ttt_step.py` on the method\'s source '
            'config, one batch of the test stream, median of repeats, run '
            'alone. Adaptation images/s = batch / (steps per batch × step '
            'time). Run images/s = stream images / wall time of the whole '
            '`tools/test.py` process (start-up and the unadapted model '
            'alongside included). Peak memory: of the step benchmark (CPU: '
            'max RSS; CUDA: max allocated) / max RSS of the test process.')
        return '\n'.join(lines) + '\n'

    def selection_table(self, families, labels) -> str:
        """Per family and method: the setting picked on the validation
        target and the test Δ_TTT it gives, beside the default's."""
        sel_seeds = self.selection_seeds(
            self.cfg['seeds']) if self.choices else []
        lines = [f'Grids on the validation target with the source models of '
                 f'seed(s) {sel_seeds}; the setting with the best mean final '
                 'Δ_TTT there is run on the test target for every seed.', '',
                 '| family | method | selected | validation Δ_TTT | '
                 'test Δ_TTT (selected) | test Δ_TTT (default) |',
                 '|---|---|---|---|---|---|']
        for f in families:
            for lab in labels:
                ch = self.choices.get((lab, f))
                if not ch:
                    continue
                def deltas(kind):
                    return [r['delta_ttt'] for r in self.results.values()
                            if r.get('kind') == kind
                            and r.get('family') == f
                            and r.get('method') == lab
                            and r.get('status') == 'done']

                sel, dft = deltas('selected'), deltas('test')
                tag = f'`{ch["tag"]}`' + (' (the default)' if ch['default']
                                          else '')
                lines.append(
                    f'| {f} | {lab} | {tag} | '
                    f'{ch["validation_delta"]:+.2f} | '
                    f'{fmt_ms(*mean_std(sel), 2, signed=True)} | '
                    f'{fmt_ms(*mean_std(dft), 2, signed=True)} |')
        return '\n'.join(lines) + '\n'


def load_previous(bench: Benchmark) -> None:
    """Results of an earlier invocation (for --report-only)."""
    data = read_json(osp.join(bench.work_dir, 'results.json'))
    if not data:
        raise SystemExit(f'--report-only: no results.json in '
                         f'{bench.work_dir}')
    for r in data.get('runs', []):
        bench.results[r['id']] = r
    bench.unavailable.update(data.get('unavailable', {}))
    for c in data.get('selection', []):
        c = dict(c)
        bench.choices[(c.pop('method'), c.pop('family'))] = c
    bench.select = bench.select or bool(bench.choices)


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config', help='benchmark config, e.g. '
                   'configs/benchmark/synth.py')
    p.add_argument('--quick', action='store_true',
                   help="merge the config's `quick` settings (one seed, one "
                   'family, short schedules)')
    p.add_argument('--work-dir', help='results folder (default: the '
                   "config's work_dir)")
    p.add_argument('--seeds', type=int, nargs='+', help='subset of seeds')
    p.add_argument('--families', nargs='+', help='subset of families')
    p.add_argument('--methods', nargs='+', help='subset of method labels')
    p.add_argument('--select-hparams', action='store_true',
                   help='also pick each method\'s learning rate and steps '
                   'on the validation target and run them on the test '
                   'target (the "selected" protocol)')
    p.add_argument('--no-cost', action='store_true',
                   help='skip the step-cost measurements')
    p.add_argument('--jobs', type=int, default=None,
                   help='parallel subprocesses (default: 1 with a GPU, '
                   'else the number of CPU cores, at most 2)')
    p.add_argument('--threads', type=int, default=None,
                   help='torch threads per subprocess (default: CPU cores / '
                   'jobs)')
    p.add_argument('--report-only', action='store_true',
                   help='rebuild report.md and the figures from '
                   'results.json, run nothing')
    p.add_argument('--set', nargs='+', default=[], metavar='KEY=VALUE',
                   help='override benchmark settings, e.g. train.iters=100 '
                   '(values parsed as JSON when they can be)')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    options = {}
    for item in args.set:
        if '=' not in item:
            raise SystemExit(f'--set {item!r}: expected KEY=VALUE')
        k, v = item.split('=', 1)
        try:
            options[k] = json.loads(v)
        except ValueError:
            options[k] = v
    cfg = load_benchmark_config(args.config, args.quick, options)
    from trttt_mm.datasets.synthetic.families import normalise_families
    try:
        families = list(normalise_families(args.families or cfg['families']))
    except ValueError as e:
        raise SystemExit(f'families: {e}') from None
    seeds = [int(s) for s in (args.seeds or cfg['seeds'])]
    labels = list(args.methods or cfg['methods'])
    bad = [m for m in labels if m not in cfg['methods']]
    if bad:
        raise SystemExit(f'--methods: unknown label(s) {bad}; the config '
                         f'has {list(cfg["methods"])}')
    import torch
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    cores = os.cpu_count() or 1
    jobs = args.jobs or (1 if device == 'cuda' else max(1, min(2, cores)))
    if jobs < 1:
        raise SystemExit(f'--jobs must be >= 1, got {jobs}')
    threads = args.threads or max(1, cores // jobs)
    work_dir = args.work_dir or cfg['work_dir']
    if not osp.isabs(work_dir):
        work_dir = osp.join(ROOT, work_dir)
    bench = Benchmark(cfg, args.config, work_dir, jobs, threads,
                      args.select_hparams, not args.no_cost, device)
    os.makedirs(bench.work_dir, exist_ok=True)
    if args.report_only:
        load_previous(bench)
        bench.report(families, seeds, labels)
        print(f'report: {osp.join(bench.work_dir, "report.md")}')
        return 0
    return bench.run(families, seeds, labels)


if __name__ == '__main__':
    sys.exit(main())
