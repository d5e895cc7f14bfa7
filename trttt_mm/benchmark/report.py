"""The benchmark's tables and ``report.md``: pure functions of run records
(the entries of ``results.json``).

A run record is a dict with at least ``id``, ``kind`` (``source``, ``eval``,
``test``, ``val``, ``selected``, ``cost``) and ``status`` (``done`` or
``failed``); method runs add ``method``, ``family``, ``seed``, ``adapted``,
``base``, ``per_task``, ``delta_ttt``, ``best_step``, ``curve`` and
``steps_per_batch``; evaluations add ``source``, ``family`` and
``metrics``.
"""
import math
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from . import decomposition as D
from .cost import cost_table
from .figures import fig3, lr_figure
from .selection import lr_edge
from .selection import tag as selection_tag
from .protocols import (TASK_KEYS, TIE_POINTS, common_reference,
                        head_to_head, paired,
                        protocol_view, run_kind)
from .stats import fmt_ms, mean_std

TASK_LABELS = {
    'semseg/mIoU': 'mIoU ↑', 'depth/rmse': 'depth RMSE ↓',
    'normal/mean_angle': 'normal angle ↓', 'edge/rmse': 'edge RMSE ↓'
}
#: The shift table's recovered share is reported only where the family costs
#: the source model at least this much (relative change, %): below it the
#: share divides by a gap of the size of the seed noise (shares of
#: thousands of %, any sign).
MIN_LOSS_PCT = 5.0


def higher_is_better(key: str) -> bool:
    """Whether a larger value of the metric ``key`` is better."""
    from trttt_mm.evaluation.delta_ttt import HIGHER, metric_direction
    return metric_direction(key) == HIGHER


def digits(key: str) -> int:
    """Decimals a task's metric is shown with."""
    return 2 if key in ('semseg/mIoU', 'normal/mean_angle') else 3


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
    kind = run_kind(protocol)
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
    kind = run_kind(protocol)
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
            c = fmt_ms(m, s, digits(k))
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
        d = digits(k)
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


def paired_section(runs: List[dict], family: str, reference: str,
                   labels: Sequence[str],
                   protocols: Sequence[str]) -> List[str]:
    """Report lines of the paired comparison of one family: per protocol,
    on how many seeds the reference wins (and ties), and the per-seed
    table."""
    lines = ['### Paired comparison: '
             f'{reference} minus the best other method, per seed', '']
    for p in protocols:
        pc = paired(runs, family, reference, labels, p)
        tie = (f', ties (within {TIE_POINTS:g} points) on '
               f'{pc["ties"]}' if pc['ties'] else '')
        lines.append(f'*{p}*: {reference} wins on {pc["wins"]}{tie} '
                     f'of {pc["seeds"]} seed(s).')
        lines.append('')
        if pc['rows']:
            lines += ['| seed | ' + reference + ' Δ_TTT | best other '
                      '| its Δ_TTT | difference |',
                      '|---|---|---|---|---|']
            for r in pc['rows']:
                lines.append(
                    f'| {r["seed"]} | {r["reference"]:+.2f} | '
                    f'{r["best_other"]} | '
                    f'{r["best_other_delta"]:+.2f} | '
                    f'{r["diff"]:+.2f} |')
            lines.append('')
    return lines


#: Column titles of the protocols where the full titles are too long.
SHORT_TITLES = dict(last='last', best='best step (oracle)',
                    selected='selected')


def head_to_head_section(runs: List[dict], family: str, reference: str,
                        labels: Sequence[str], protocols: Sequence[str],
                        titles: Dict[str, str]) -> List[str]:
    """Report lines: the reference against every other method on its own,
    paired per seed, one column per protocol (mean ± sample std of the
    difference in Δ_TTT points; wins/ties/losses over the seeds)."""
    cols = {p: {r['method']: r for r in head_to_head(runs, family, reference,
                                                        labels, p)}
            for p in protocols}
    others = [lab for lab in labels if lab != reference and
              any(lab in c for c in cols.values())]
    if not others:
        return []
    lines = [f'### {reference} against each method, paired per seed', '',
             f'{reference}\'s Δ_TTT minus the method\'s, per seed, mean ± '
             'sample std (points); W/T/L: the seeds on which '
             f'{reference} is ahead, within {TIE_POINTS:g} points, behind.',
             '', '| method | ' + ' | '.join(SHORT_TITLES.get(p, titles[p])
                                           for p in protocols)
             + ' |', '|---|' + '---|' * len(protocols)]
    for lab in others:
        cells = []
        for p in protocols:
            r = cols[p].get(lab)
            if r is None:
                cells.append('—')
                continue
            m, sd = mean_std(r['diffs'])
            cells.append(f'{fmt_ms(m, sd, 2, True)} '
                         f'({r["wins"]}/{r["ties"]}/{r["losses"]})')
        lines.append(f'| {lab} | ' + ' | '.join(cells) + ' |')
    return lines + ['']


def selection_table(results: Dict[str, dict], choices: Dict[tuple, dict],
                    selection_seeds: Sequence[int], families: Sequence[str],
                    labels: Sequence[str],
                    methods: Optional[Dict[str, dict]] = None) -> str:
    """Per family and method: the setting picked on the validation target
    and the test Δ_TTT it gives, beside the default's.

    Args:
        results: run id -> run record.
        choices: (method, family) -> the choice of
            :func:`trttt_mm.benchmark.selection.choose`.
        selection_seeds: the seeds whose source models ran the grids.
        methods: the benchmark's methods (their ``lr_key``): a selected
            learning rate on an edge of its grid is marked (the best value
            may lie beyond the grid).
    """
    lines = [f'Grids on the validation target with the source models of '
             f'seed(s) {list(selection_seeds)}; the setting with the best '
             'mean final Δ_TTT there is run on the test target for every '
             'seed.', '',
             '| family | method | selected | validation Δ_TTT | '
             'test Δ_TTT (selected) | test Δ_TTT (default) |',
             '|---|---|---|---|---|---|']
    for f in families:
        for lab in labels:
            ch = choices.get((lab, f))
            if not ch:
                continue

            def deltas(kind):
                return [r['delta_ttt'] for r in results.values()
                        if r.get('kind') == kind and r.get('family') == f
                        and r.get('method') == lab
                        and r.get('status') == 'done']

            sel, dft = deltas('selected'), deltas('test')
            tag = f'`{ch["tag"]}`' + (' (the default)' if ch['default']
                                      else '')
            spec = (methods or {}).get(lab, {})
            tag += edge_note(lr_edge(ch, spec.get('lr_key', 'optimizer.lr')))
            if ch.get('diverged'):
                tag += '; diverged (non-finite predictions): ' + ', '.join(
                    f'`{selection_tag(c)}`' for c in ch['diverged'])
            lines.append(
                f'| {f} | {lab} | {tag} | '
                f'{ch["validation_delta"]:+.2f} | '
                f'{fmt_ms(*mean_std(sel), 2, signed=True)} | '
                f'{fmt_ms(*mean_std(dft), 2, signed=True)} |')
    return '\n'.join(lines) + '\n'


def decomposition_table(runs: List[dict], methods: Dict[str, dict],
                        families: Sequence[str], labels: Sequence[str],
                        protocol: str) -> str:
    """Per decomposed method and family: Δ_TTT (%) of its statistics-only
    control, its gradient-only variant and the method itself (*both*), and
    the interaction ``both - stats - grad``, each mean ± sample std over the
    seeds on which all three finished (paired per seed; the three runs share
    the source model, so every Δ_TTT is against the same base).

    Args:
        runs: method run records.
        methods: the benchmark's methods (expanded:
            :func:`~.decomposition.expand`).
        labels: the labels of the report.
        protocol: ``last``, ``best`` or ``selected``.
    """
    kind = run_kind(protocol)
    head = ['method', 'family', 'statistics only', 'gradient only',
            'both (the method)', 'interaction', 'seeds']
    lines = ['| ' + ' | '.join(head) + ' |',
             '|' + '|'.join(['---'] * len(head)) + '|']
    rows = 0
    for lab in D.decomposed(methods, labels):
        part_labels = dict(methods[lab]['parts'], both=lab)
        for f in families:
            views: Dict[str, Dict[int, float]] = {}
            for part, pl in part_labels.items():
                views[part] = {}
                # a control the config names itself (e.g. TRTTTStats) has a
                # grid of its own: in the selected protocol its default
                # setting (the method's default steps, its norm momentum)
                # is the control, not its own selection
                own = part == 'stats' and protocol == 'selected' and \
                    not D.generated(methods, pl)
                k_part, p_part = ('test', 'last') if own else (kind, protocol)
                for r in runs:
                    if r['family'] != f or r['method'] != pl or \
                            r['kind'] != k_part:
                        continue
                    v = protocol_view(r, p_part)
                    if v is not None:
                        views[part][r['seed']] = v['delta_ttt']
            vals = D.seed_values(views)
            if not vals['both']:
                continue
            cells = [lab, f] + [
                fmt_ms(*mean_std(vals[p]), 2, signed=True)
                for p in ('stats', 'grad', 'both', 'interaction')
            ] + [str(len(vals['both']))]
            lines.append('| ' + ' | '.join(cells) + ' |')
            rows += 1
    if not rows:
        return '_no method with all three parts finished_\n'
    return '\n'.join(lines) + '\n'


def edge_note(edge: Optional[str]) -> str:
    """The selection table's mark of a learning rate on a grid edge."""
    if edge == 'low':
        return ' ⚠ lowest lr of the grid'
    if edge == 'high':
        return ' ⚠ highest lr of the grid'
    return ''


@dataclass
class ReportInput:
    """What a report is built from.

    Attributes:
        config_path: the benchmark config as given on the command line.
        cfg: the benchmark settings (:func:`~.spec.load_benchmark_config`).
        device: ``cpu`` or ``cuda``.
        results: run id -> run record.
        families, seeds, labels: what the report covers.
        unavailable: method label -> why it is not available.
        choices: (method, family) -> selected setting.
        select: whether the *selected* protocol is reported.
        selection_seeds: the seeds the grids ran with.
        work_dir: where the figures are written (None: no figures).
        sources: the source models of the rows (for the settings section;
            None: no settings section).
        left_out: (run id, the settings that differ) of the runs of
            ``results.json`` made with other settings than the report's.
    """
    config_path: str
    cfg: dict
    device: str
    results: Dict[str, dict]
    families: Sequence[str]
    seeds: Sequence[int]
    labels: Sequence[str]
    unavailable: Dict[str, str] = field(default_factory=dict)
    choices: Dict[tuple, dict] = field(default_factory=dict)
    select: bool = False
    selection_seeds: Sequence[int] = ()
    work_dir: Optional[str] = None
    sources: Optional[Sequence[str]] = None
    left_out: List[Tuple[str, List[str]]] = field(default_factory=list)


def _overrides(over: dict) -> str:
    from .trees import flatten
    flat = flatten(over or {})
    return ', '.join(f'`{k}={v}`' for k, v in flat.items()) or '—'


def settings_section(cfg: dict, labels: Sequence[str],
                     sources: Sequence[str]) -> List[str]:
    """Report lines stating the settings every row was made with: each
    source model's config and training, each method's hook, source model and
    overrides."""
    t, d = cfg['train'], cfg['data']
    lines = [
        '## Settings of every row', '',
        'Every row below comes from runs made with exactly these settings: '
        'each run of `results.json` carries the key of what it was made '
        'with (configs as resolved, budgets, data, seed, overrides, the '
        'benchmark version), and a run whose key is not the one these '
        'settings give is left out (listed under "Runs left out"). Data: '
        f'generator seed {d["seed"]}, {d["height"]}×{d["width"]}, '
        f'{d["num_train"]} source training images, {d["num_target_val"]} '
        'target images per family.', '',
        '| source model | config | training |', '|---|---|---|']
    for name in sources:
        spec = cfg['sources'][name]
        if spec.get('from_source'):
            how = f'`{spec["from_source"]}` + source statistics'
        else:
            how = (f'{t["iters"]} iterations × batch {t["batch_size"]}')
        if spec.get('finetune'):
            ft = spec['finetune']
            how += f', then `{ft["config"]}` {ft["iters"]} iterations'
        lines.append(f'| {name} | `{spec["config"]}` | {how} |')
    lines += ['', '| method | hook | source model | overrides |',
              '|---|---|---|---|']
    for lab in labels:
        spec = cfg['methods'][lab]
        lines.append(f'| {lab} | {spec["hook"]} | {spec["source"]} | '
                     f'{_overrides(spec.get("overrides"))} |')
    return lines + ['']


def left_out_section(left_out: List[Tuple[str, List[str]]],
                     limit: int = 60) -> List[str]:
    """Report lines naming the runs left out and how their settings
    differ."""
    lines = ['## Runs left out (made with other settings)', '',
             f'{len(left_out)} run(s) of `results.json` for the methods, '
             'seeds and families of this report were made with other '
             'settings than the ones stated above; no table uses them. Run '
             'the benchmark with these settings to replace them, or report '
             'them with their own settings (`--report-only` with those '
             'options).', '']
    for rid, diffs in left_out[:limit]:
        lines.append(f'- `{rid}`: ' + '; '.join(diffs))
    if len(left_out) > limit:
        lines.append(f'- ... and {len(left_out) - limit} more')
    return lines + ['']




def protocol_titles(cfg: dict) -> Dict[str, str]:
    """The heading of each protocol."""
    return {
        'last': 'last (the whole stream, each method\'s default schedule)',
        'best': 'best step (ORACLE: the best running Δ_TTT over stream '
                f'prefixes of at least '
                f'{cfg["best_step"]["min_fraction"]:.0%} of the '
                'batches; it looks at the test labels)',
        'selected': 'selected (learning rate and steps picked on the '
                    'validation target, another generator seed; no test '
                    'labels)'
    }


def build_report(inp: ReportInput) -> str:
    """The text of ``report.md`` (the figures are written beside it when
    ``inp.work_dir`` is set)."""
    cfg, results = inp.cfg, inp.results
    families, seeds, labels = inp.families, inp.seeds, inp.labels
    runs = list(results.values())
    runs = [r for r in runs if 'family' in r and 'method' in r]
    methods = cfg.get('methods') or {}
    # the generated decomposition variants have tables of their own
    all_labels = list(labels)
    labels = [lab for lab in labels if not D.generated(methods, lab)]
    evals = [r for r in results.values()
             if r.get('kind') == 'eval' and r.get('status') == 'done']
    so = cfg.get('source_only')
    ref = cfg.get('reference')
    rec_labels = cfg.get('recovery_method') or []
    if isinstance(rec_labels, str):
        rec_labels = [rec_labels]
    rec_labels = [lab for lab in rec_labels if lab in labels]
    d, t = cfg['data'], cfg['train']
    lines = [
        '# Benchmark report', '',
        f'Config `{inp.config_path}`; {len(seeds)} seed(s) {list(seeds)}'
        f'; image size {d["height"]}×{d["width"]}; source training '
        f'{t["iters"]} iterations × batch {t["batch_size"]} for every '
        f'source; test stream {d["num_target_val"]} images per family in '
        f'batches of {cfg["test"]["batch_size"]}; device '
        f'{inp.device}. Table cells: mean ± sample std over seeds; '
        'Δ_TTT of each method against its own source model on the same '
        'batches; best in bold.', ''
    ]
    if inp.unavailable:
        lines += ['Not available: ' + '; '.join(
            f'{k} ({v})' for k, v in inp.unavailable.items()), '']
    if inp.left_out:
        lines += [f'**{len(inp.left_out)} run(s) of results.json were made '
                  'with other settings and are not in this report** '
                  '(listed under "Runs left out", with the settings that '
                  'differ).', '']
    if inp.sources is not None:
        lines += settings_section(cfg, all_labels, inp.sources)
    protocols = ['last', 'best'] + (['selected'] if inp.select else [])
    titles = protocol_titles(cfg)
    lines += ['## Summary: Δ_TTT (%) per method and family', '']
    for p in protocols:
        lines += [f'*{titles[p]}*', '',
                  summary_table(runs, families, labels, p)]
    common = common_reference(evals, so)
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
                             inp.unavailable)]
        if inp.work_dir is not None:
            png = osp.join(inp.work_dir, f'fig3_{f}.png')
            if fig3(runs, f, labels, png, ref):
                lines += [f'![Fig. 3, {f}](fig3_{f}.png)', '']
        if ref:
            lines += paired_section(runs, f, ref, labels, protocols)
            lines += head_to_head_section(runs, f, ref, labels, protocols,
                                          titles)
    if D.decomposed(methods, all_labels):
        lines += [
            '## Decomposition: statistics only, gradient only, both', '',
            'Per gradient method: its statistics-only control (NormStatsHook '
            'on its own source model, as many statistics passes per batch as '
            'its steps, no gradient; or the control the config names, e.g. '
            'TENT at learning rate 0, which normalises each batch with its '
            'own statistics), its gradient-only variant (the method '
            "with frozen norm statistics, `norm_mode='eval'`, same learning "
            'rate and steps; in the *selected* protocol both follow the '
            "method's selected setting, and a control with a grid of its own "
            'is read at its default) and the method itself; interaction '
            '= both − statistics only − gradient only, per seed (Δ_TTT '
            'points; every Δ_TTT against the same source model on the same '
            'batches). Mean ± sample std over the seeds on which all three '
            'finished.', '']
        for p in protocols:
            lines += [f'*{titles[p]}*', '',
                      decomposition_table(runs, methods, families,
                                          all_labels, p)]
    lines += ['## Cost', '', cost_table(results, labels,
                                        int(cfg['test']['batch_size']))]
    if inp.select:
        lines += ['## Selected hyper-parameters', '',
                  selection_table(results, inp.choices, inp.selection_seeds,
                                  families, labels, methods)]
        if inp.work_dir is not None:
            for f in families:
                name = f'benchmark_lr_{f}.png'
                if lr_figure(inp.choices, methods, f, labels,
                             osp.join(inp.work_dir, name)):
                    lines += [f'![validation Δ_TTT against the learning '
                              f'rate, {f}]({name})', '']
    failed = [r for r in results.values() if r.get('status') == 'failed']
    if failed:
        lines += ['## Failed units', '']
        lines += [f'- `{r["id"]}`: {r.get("error", "")[:300]}'
                  .replace('\n', ' ') for r in failed]
    if inp.left_out:
        lines += [''] + left_out_section(inp.left_out)
    return '\n'.join(lines) + '\n'
