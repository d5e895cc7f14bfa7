"""Compare two metric files and report Δ_TTT.

Usage::

    python tools/analysis/delta_ttt.py BASE.json ADAPTED.json [--keys K ...] [--json]

Each file holds one JSON object: the flat metrics dict that ``tools/test.py``
writes (``{"semseg/mIoU": 41.2, "depth/rmse": 0.61, ...}``), or an object whose
``metrics`` key holds that flat dict. Without ``--keys`` the primary metric of
every task present in both files is used (``semseg/mIoU``, ``depth/rmse``,
``normal/mean_angle``, ``edge/rmse``). ``--json`` prints exactly one JSON
object with ``delta_ttt`` (percent), ``per_task`` ({key: percent}), ``keys``,
``base`` and ``adapted`` (the compared values).

Exit status: 0 on success, 1 on a bad file or metric, 2 on bad arguments.
"""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

from trttt_mm.evaluation.delta_ttt import delta_ttt, metric_direction  # noqa: E402,E501


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Δ_TTT of ADAPTED over BASE: the mean signed relative '
        'improvement (percent) over the chosen metric keys.')
    parser.add_argument('base', help='metrics JSON of the source model')
    parser.add_argument('adapted', help='metrics JSON of the adapted model')
    parser.add_argument(
        '--keys',
        nargs='+',
        default=None,
        help='metric keys to average (default: the primary metric of each '
        'task present in both files)')
    parser.add_argument(
        '--json',
        action='store_true',
        help='print one JSON object instead of a table')
    return parser.parse_args(argv)


def load_metrics(path: str) -> dict:
    """Read a flat metrics dict (or one under a top-level ``metrics`` key).

    Raises:
        ValueError: the file cannot be read, is not JSON or holds no dict.
    """
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except OSError as e:
        raise ValueError(f'cannot read {path}: {e.strerror or e}') from None
    except json.JSONDecodeError as e:
        raise ValueError(f'{path} is not valid JSON: {e}') from None
    if isinstance(data, dict) and isinstance(data.get('metrics'), dict):
        data = data['metrics']
    if not isinstance(data, dict):
        raise ValueError(f'{path}: expected a JSON object of metrics, got '
                         f'{type(data).__name__}')
    return data


def format_table(result: dict, base: dict, adapted: dict) -> str:
    rows = [('metric', 'base', 'adapted', 'change %', 'better')]
    for key, change in result['per_task'].items():
        rows.append((key, f'{float(base[key]):.4f}',
                     f'{float(adapted[key]):.4f}', f'{change:+.2f}',
                     metric_direction(key)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])]
        cells += [c.rjust(w) for c, w in zip(row[1:4], widths[1:4])]
        cells.append(row[4].ljust(widths[4]))
        lines.append('  '.join(cells).rstrip())
        if n == 0:
            lines.append('  '.join('-' * w for w in widths))
    lines.append(f"Δ_TTT = {result['delta_ttt']:+.2f}% "
                 f"(mean over {len(result['per_task'])} metric(s))")
    return '\n'.join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        base = load_metrics(args.base)
        adapted = load_metrics(args.adapted)
        result = delta_ttt(base, adapted, keys=args.keys)
    except ValueError as e:
        print(f'delta_ttt: error: {e}', file=sys.stderr)
        return 1
    keys = list(result['per_task'])
    if args.json:
        out = dict(
            delta_ttt=result['delta_ttt'],
            per_task=result['per_task'],
            keys=keys,
            base={k: float(base[k]) for k in keys},
            adapted={k: float(adapted[k]) for k in keys})
        print(json.dumps(out))
    else:
        print(format_table(result, base, adapted))
    return 0


if __name__ == '__main__':
    sys.exit(main())
