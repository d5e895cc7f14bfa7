"""Draw the paper's Fig. 3 from one or more ``ttt_curve.json`` files.

``python tools/analysis/plot_ttt_curve.py CURVE.json [CURVE2.json ...] --out fig.png``

One panel per task metric (running value over the target stream, adapted
solid, unadapted base dashed when recorded) and one for the running Δ_TTT.
The curves are written by ``TTTMonitorHook`` (``curve=True``, the default)
into the run's work dir. Every input is checked, and ``--out`` too (its
folder exists and is writable, its format is one matplotlib writes, it is
none of the inputs), before anything is drawn.
"""
import argparse
import json
import math
import os
import os.path as osp
import sys
from typing import List, Optional, Sequence

PRIMARY = ('semseg/mIoU', 'depth/rmse', 'normal/mean_angle', 'edge/rmse',
           # mmseg's own IoUMetric (a plain mmseg segmentor's evaluator)
           'mIoU')

WHAT = ('a ttt_curve.json (an object with a list "metrics" of per-batch '
        'metric objects, written by TTTMonitorHook)')


def _is_number_or_null(value) -> bool:
    return value is None or (isinstance(value, (int, float))
                             and not isinstance(value, bool))


def _check_rows(path: str, curve: dict, key: str) -> None:
    rows = curve[key]
    if not isinstance(rows, list):
        raise SystemExit(f'{path}: "{key}" is a {type(rows).__name__}; '
                         f'expected a list of per-batch objects ({WHAT})')
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise SystemExit(
                f'{path}: {key}[{i}] is {json.dumps(row)[:40]} (JSON '
                f'{type(row).__name__}); expected an object of metric '
                'values, e.g. {"semseg/mIoU": 12.1, ...}')
        for name in PRIMARY:
            if name in row and not _is_number_or_null(row[name]):
                raise SystemExit(
                    f'{path}: {key}[{i}]["{name}"] is {row[name]!r}; '
                    'expected a number')


def load(path: str) -> dict:
    """Read and check one curve file.

    Raises:
        SystemExit: naming the file and what is wrong with it.
    """
    try:
        with open(path) as f:
            curve = json.load(f)
    except (OSError, ValueError) as e:
        raise SystemExit(f'{path}: cannot read a ttt_curve.json ({e})')
    if not isinstance(curve, dict):
        raise SystemExit(f'{path}: holds a JSON {type(curve).__name__}; '
                         f'expected {WHAT}')
    if 'metrics' not in curve:
        raise SystemExit(f'{path}: no "metrics" key (keys: '
                         f'{sorted(curve)[:10]}); expected {WHAT}')
    _check_rows(path, curve, 'metrics')
    if not curve['metrics']:
        raise SystemExit(f'{path}: no per-batch metrics recorded (the '
                         'test stream had no batch)')
    if not any(k in curve['metrics'][-1] for k in PRIMARY):
        raise SystemExit(f'{path}: the last batch holds none of the primary '
                         f'metrics {list(PRIMARY)}')
    base = curve.get('base_metrics')
    if base:
        _check_rows(path, curve, 'base_metrics')
        if len(base) != len(curve['metrics']):
            raise SystemExit(
                f'{path}: "base_metrics" has {len(base)} entries and '
                f'"metrics" {len(curve["metrics"])}; expected one per batch '
                'in both')
    delta = curve.get('delta_ttt')
    if delta is not None:
        if not isinstance(delta, list) or not all(
                _is_number_or_null(v) for v in delta):
            raise SystemExit(f'{path}: "delta_ttt" must be a list of numbers '
                             f'(or null), got {json.dumps(delta)[:60]}')
        if len(delta) > len(curve['metrics']):
            raise SystemExit(
                f'{path}: "delta_ttt" has {len(delta)} entries, more than '
                f'the {len(curve["metrics"])} batches of "metrics"')
    return curve


def check_out(out: str, inputs: Sequence[str],
              formats: Optional[Sequence[str]] = None) -> None:
    """Refuse an ``--out`` that would fail after rendering or overwrite an
    input.

    Raises:
        SystemExit: naming ``out`` and the reason.
    """
    for path in inputs:
        if osp.abspath(out) == osp.abspath(path) or (
                osp.exists(out) and osp.exists(path)
                and osp.samefile(out, path)):
            raise SystemExit(f'--out {out} is the input curve {path}; '
                             'refusing to overwrite it (give an image path, '
                             'e.g. curve.png)')
    if osp.isdir(out):
        raise SystemExit(f'--out {out} is a folder; expected an image file '
                         'path, e.g. curve.png')
    folder = osp.dirname(osp.abspath(out))
    if not osp.isdir(folder):
        raise SystemExit(f'--out {out}: folder {folder} does not exist '
                         '(create it first)')
    if not os.access(folder, os.W_OK):
        raise SystemExit(f'--out {out}: folder {folder} is not writable')
    ext = osp.splitext(out)[1].lower().lstrip('.')
    if formats is not None and ext not in formats:
        raise SystemExit(f'--out {out}: unknown image format {ext!r} '
                         f'(expected one of {", ".join(sorted(formats))})')


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('curves', nargs='+')
    parser.add_argument('--out', required=True, help='output image (PNG, '
                        'PDF, SVG, ...: the format follows the extension)')
    parser.add_argument('--labels', nargs='*')
    args = parser.parse_args(argv)
    if args.labels and len(args.labels) != len(args.curves):
        raise SystemExit(f'--labels: {len(args.labels)} label(s) for '
                         f'{len(args.curves)} curve(s); give one per curve')
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.backend_bases import FigureCanvasBase
    check_out(args.out, args.curves,
              list(FigureCanvasBase.get_supported_filetypes()))
    curves = [load(p) for p in args.curves]
    labels = args.labels or [
        c.get('method') or osp.basename(p)
        for c, p in zip(curves, args.curves)
    ]
    keys = [k for k in PRIMARY if k in curves[0]['metrics'][-1]]
    panels = keys + ['delta_ttt']

    def value(row, key):
        v = row.get(key)
        return float('nan') if v is None else float(v)

    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.2))
    for ax, key in zip(axes, panels):
        for curve, label in zip(curves, labels):
            x = list(range(1, len(curve['metrics']) + 1))
            if key == 'delta_ttt':
                y = [math.nan if v is None else v
                     for v in curve.get('delta_ttt') or []]
                if y:
                    ax.plot(x[:len(y)], y, label=label)
                continue
            ax.plot(x, [value(m, key) for m in curve['metrics']],
                    label=label)
            if curve.get('base_metrics'):
                ax.plot(x, [value(m, key) for m in curve['base_metrics']],
                        '--', color='gray',
                        label='base (no TTT)' if label == labels[0] else None)
        ax.set_title('Δ_TTT (%)' if key == 'delta_ttt' else key)
        ax.set_xlabel('test batches seen')
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    plt.close(fig)
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
