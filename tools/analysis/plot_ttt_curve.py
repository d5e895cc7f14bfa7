"""Draw the paper's Fig. 3 from one or more ``ttt_curve.json`` files.

``python tools/analysis/plot_ttt_curve.py CURVE.json [CURVE2.json ...] --out fig.png``

One panel per task metric (running value over the target stream, adapted
solid, unadapted base dashed when recorded) and one for the running Δ_TTT.
"""
import argparse
import json
import os.path as osp
import sys

PRIMARY = ('semseg/mIoU', 'depth/rmse', 'normal/mean_angle', 'edge/rmse')


def load(path):
    try:
        with open(path) as f:
            curve = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise SystemExit(f'{path}: cannot read a ttt_curve.json ({e})')
    if 'metrics' not in curve or not curve['metrics']:
        raise SystemExit(f'{path}: no per-batch metrics recorded (was the '
                         'hook run with curve=True?)')
    return curve


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('curves', nargs='+')
    parser.add_argument('--out', required=True, help='output PNG')
    parser.add_argument('--labels', nargs='*')
    args = parser.parse_args(argv)
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    curves = [load(p) for p in args.curves]
    labels = args.labels or [
        c.get('method', osp.basename(p)) for c, p in zip(curves, args.curves)
    ]
    keys = [k for k in PRIMARY if k in curves[0]['metrics'][-1]]
    panels = keys + ['delta_ttt']
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.2))
    if len(panels) == 1:
        axes = [axes]
    for ax, key in zip(axes, panels):
        for curve, label in zip(curves, labels):
            x = list(range(1, len(curve['metrics']) + 1))
            if key == 'delta_ttt':
                y = [v if v is not None else float('nan')
                     for v in curve.get('delta_ttt', [])]
                if y:
                    ax.plot(x[:len(y)], y, label=label)
                continue
            ax.plot(x, [m.get(key, float('nan')) for m in curve['metrics']],
                    label=label)
            if curve.get('base_metrics'):
                ax.plot(x, [m.get(key, float('nan'))
                            for m in curve['base_metrics']], '--',
                        color='gray', label='base (no TTT)' if label == labels[0] else None)
        ax.set_title('Δ_TTT (%)' if key == 'delta_ttt' else key)
        ax.set_xlabel('test batches seen')
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    sys.exit(main())
