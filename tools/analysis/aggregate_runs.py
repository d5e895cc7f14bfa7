"""Mean ± std over runs of `tools/run_demo.py` (one work dir per seed).

``python tools/analysis/aggregate_runs.py work_dirs/demo work_dirs/demo_seed1 ...``

Reads each run's ``summary.json`` and prints, per primary metric, the source
model on the source validation split, on the target (Base) and after TR-TTT,
plus Δ_TTT, as mean ± sample std over the runs (a markdown table).

Every value it averages must be a finite number: a missing section or key,
a NaN or a non-number is an error naming the run and the key. A primary
metric that some runs lack is left out of the table with a line saying
which runs lack it.
"""
import argparse
import json
import math
import os.path as osp
import statistics
import sys
from typing import Dict, List, Optional, Tuple

PRIMARY = ('semseg/mIoU', 'depth/rmse', 'normal/mean_angle', 'edge/rmse')
PARTS = ('source', 'target', 'trttt')


def fmt(values: List[float]) -> str:
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f'{mean:.4g} ± {std:.2g}'


def lookup(summary: dict, path: str, *keys: str) -> float:
    """``summary[keys[0]][keys[1]]...`` as a finite float.

    Raises:
        SystemExit: naming the file and the key when it is missing, not a
            number or not finite.
    """
    node = summary
    where = ''
    for key in keys:
        if not isinstance(node, dict):
            raise SystemExit(f'{path}: {where or "the file"} is a '
                             f'{type(node).__name__}, expected an object '
                             f'holding {key!r}')
        if key not in node:
            raise SystemExit(
                f'{path}: no {key!r} in {where or "the summary"} (keys: '
                f'{sorted(node)[:12]}); expected a summary.json of '
                'tools/run_demo.py with a TR-TTT result')
        node = node[key]
        where += f'[{key!r}]'
    if isinstance(node, bool) or not isinstance(node, (int, float)):
        raise SystemExit(f'{path}: {where} is {node!r}, expected a number')
    if not math.isfinite(node):
        raise SystemExit(
            f'{path}: {where} is {node}; mean ± std needs finite values '
            '(a diverged run?): leave that run out or run it again')
    return float(node)


def read_summary(run: str) -> dict:
    path = osp.join(run, 'summary.json')
    try:
        with open(path) as f:
            summary = json.load(f)
    except (OSError, ValueError) as e:
        raise SystemExit(f'{path}: cannot read a run summary ({e})')
    if not isinstance(summary, dict):
        raise SystemExit(f'{path}: holds a JSON {type(summary).__name__}, '
                         'expected the object tools/run_demo.py writes')
    for part in PARTS + ('shift_drop', 'delta_ttt'):
        if part not in summary:
            extra = ' (run without --skip-ttt)' if part in (
                'trttt', 'delta_ttt') else ''
            raise SystemExit(f'{path}: no {part!r} section{extra}; keys: '
                             f'{sorted(summary)}')
        if not isinstance(summary[part], dict):
            raise SystemExit(f'{path}: {part!r} is a '
                             f'{type(summary[part]).__name__}, expected an '
                             'object')
    return summary


def common_keys(runs: List[str],
                summaries: List[dict]) -> Tuple[List[str], List[str]]:
    """The primary metrics every run has in every part, and one line per
    primary metric that some runs have and others lack."""
    keys, notes = [], []
    for key in PRIMARY:
        lacking = [f'{part} of {run}' for run, s in zip(runs, summaries)
                   for part in PARTS if key not in s[part]]
        present = any(key in s[part] for s in summaries for part in PARTS)
        if not lacking:
            keys.append(key)
        elif present:
            notes.append(f'{key}: left out, missing from '
                         + ', '.join(lacking))
    return keys, notes


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('runs', nargs='+', help='work dirs of run_demo.py')
    args = parser.parse_args(argv)
    summaries = [read_summary(run) for run in args.runs]
    paths = [osp.join(run, 'summary.json') for run in args.runs]
    keys, notes = common_keys(args.runs, summaries)
    if not keys:
        raise SystemExit('no primary metric (' + ', '.join(PRIMARY) + ') is '
                         'in every run: ' + '; '.join(notes or ['none found']))
    table: Dict[str, Dict[str, List[float]]] = {
        k: {part: [lookup(s, p, part, k) for s, p in zip(summaries, paths)]
            for part in PARTS} for k in keys}
    per_task = {k: [lookup(s, p, 'delta_ttt', 'per_task', k)
                    for s, p in zip(summaries, paths)] for k in keys}
    shift = [lookup(s, p, 'shift_drop', 'delta_ttt')
             for s, p in zip(summaries, paths)]
    delta = [lookup(s, p, 'delta_ttt', 'delta_ttt')
             for s, p in zip(summaries, paths)]
    print(f'{len(summaries)} runs: {", ".join(args.runs)}\n')
    print('| metric | source val | target (Base) | target (TR-TTT) |')
    print('| --- | --- | --- | --- |')
    for k in keys:
        print(f'| {k} | ' + ' | '.join(fmt(table[k][part])
                                        for part in PARTS) + ' |')
    for note in notes:
        print(f'\nnot in every run: {note}')
    print(f'\nshift (target vs source, mean relative change): {fmt(shift)} %')
    print(f'Δ_TTT (TR-TTT vs Base): {fmt(delta)} %  (per run: '
          + ', '.join(f'{d:+.2f}' for d in delta) + ')')
    for k in keys:
        print(f'  {k}: {fmt(per_task[k])} %')
    return 0


if __name__ == '__main__':
    sys.exit(main())
