"""Mean ± std over runs of `tools/run_demo.py` (one work dir per seed).

``python tools/analysis/aggregate_runs.py work_dirs/demo work_dirs/demo_seed1 ...``

Reads each run's ``summary.json`` and prints, per primary metric, the source
model on the source validation split, on the target (Base) and after TR-TTT,
plus Δ_TTT, as mean ± sample std over the runs (a markdown table).
"""
import argparse
import json
import os.path as osp
import statistics
import sys

PRIMARY = ('semseg/mIoU', 'depth/rmse', 'normal/mean_angle', 'edge/rmse')


def fmt(values):
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f'{mean:.4g} ± {std:.2g}'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('runs', nargs='+', help='work dirs of run_demo.py')
    args = parser.parse_args(argv)
    summaries = []
    for run in args.runs:
        path = osp.join(run, 'summary.json')
        try:
            with open(path) as f:
                summaries.append(json.load(f))
        except (OSError, json.JSONDecodeError) as e:
            raise SystemExit(f'{path}: cannot read a run summary ({e})')
    missing = [r for r, s in zip(args.runs, summaries) if 'trttt' not in s]
    if missing:
        raise SystemExit(f'runs without a TR-TTT result: {missing}')
    keys = [k for k in PRIMARY if all(k in s['target'] for s in summaries)]
    print(f'{len(summaries)} runs: {", ".join(args.runs)}\n')
    print('| metric | source val | target (Base) | target (TR-TTT) |')
    print('| --- | --- | --- | --- |')
    for k in keys:
        print(f'| {k} | ' + ' | '.join(
            fmt([s[part][k] for s in summaries])
            for part in ('source', 'target', 'trttt')) + ' |')
    shift = [s['shift_drop']['delta_ttt'] for s in summaries]
    delta = [s['delta_ttt']['delta_ttt'] for s in summaries]
    print(f'\nshift (target vs source, mean relative change): {fmt(shift)} %')
    print(f'Δ_TTT (TR-TTT vs Base): {fmt(delta)} %  (per run: '
          + ', '.join(f'{d:+.2f}' for d in delta) + ')')
    for k in keys:
        vals = [s['delta_ttt']['per_task'][k] for s in summaries]
        print(f'  {k}: {fmt(vals)} %')


if __name__ == '__main__':
    sys.exit(main())
