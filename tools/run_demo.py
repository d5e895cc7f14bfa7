"""The `make demo` pipeline, end to end through the project's own tools.

1. synthetic benchmark (cached): source = Taskonomy layout, target = NYUD-v2
2. train the source model (tools/train.py; reused when its checkpoint exists)
3. evaluate it on the source validation split and on the target
4. adapt online on the target with TR-TTT (tools/test.py --tta-hook TRTTTHook)
5. print the tables, write metrics JSON and the Fig. 3 curve PNG
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))
sys.path.insert(0, ROOT)

from trttt_mm.evaluation.delta_ttt import delta_ttt  # noqa: E402

PRIMARY = ('semseg/mIoU', 'depth/rmse', 'normal/mean_angle', 'edge/rmse')


def run(cmd, log):
    print('$ ' + ' '.join(cmd), flush=True)
    with open(log, 'w') as f:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        with open(log) as f:
            tail = f.read()[-4000:]
        raise SystemExit(f'command failed ({proc.returncode}); log {log}:\n'
                         f'{tail}')


def table(title, cols, rows):
    widths = [max(len(str(r[i])) for r in [cols] + rows) for i in
              range(len(cols))]
    line = '  '.join(str(c).ljust(w) for c, w in zip(cols, widths))
    print(f'\n{title}\n{line}\n' + '-' * len(line))
    for r in rows:
        print('  '.join(str(c).ljust(w) for c, w in zip(r, widths)))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--config', default='configs/trttt/synth_t2n.py')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--seed', type=int, default=0,
                        help='training and test-time seed')
    parser.add_argument('--data-seed', type=int, default=0,
                        help='seed of the synthetic benchmark in data/synth')
    parser.add_argument('--retrain', action='store_true',
                        help='train again even if a checkpoint exists')
    parser.add_argument('--skip-ttt', action='store_true')
    args = parser.parse_args()
    t0 = time.time()
    py = sys.executable
    wd = osp.join(ROOT, args.work_dir)
    os.makedirs(wd, exist_ok=True)

    run([py, 'tools/data/make_synthetic.py', '--out', 'data/synth',
         '--seed', str(args.data_seed)], osp.join(wd, 'make_synthetic.log'))
    print(f'  data ready ({time.time() - t0:.0f}s)')

    train_dir = osp.join(wd, 'train')
    last = osp.join(train_dir, 'last_checkpoint')
    if args.retrain or not osp.isfile(last):
        run([py, 'tools/train.py', args.config, '--work-dir', train_dir,
             '--cfg-options', f'randomness.seed={args.seed}'],
            osp.join(wd, 'train.log'))
    else:
        print(f'  reusing the trained model in {train_dir} (--retrain to '
              'train again)')
    with open(last) as f:
        ckpt = f.read().strip()
    print(f'  source model: {ckpt} ({time.time() - t0:.0f}s)')

    results = {}
    runs = [('source', ['--split', 'val']), ('target', [])]
    if not args.skip_ttt:
        runs.append(('trttt', [
            '--tta-hook', 'TRTTTHook', '--cfg-options',
            f'ttt.TRTTTHook.seed={args.seed}'
        ]))
    for name, extra in runs:
        out = osp.join(wd, f'metrics_{name}.json')
        run([py, 'tools/test.py', args.config, ckpt, '--work-dir',
             osp.join(wd, name), '--metrics-out', out] + extra,
            osp.join(wd, f'test_{name}.log'))
        with open(out) as f:
            results[name] = json.load(f)
        print(f'  evaluated {name} ({time.time() - t0:.0f}s)')

    src, tgt = results['source'], results['target']
    keys = [k for k in PRIMARY if k in src and k in tgt]
    shift = delta_ttt(src, tgt, keys)
    table('Source model: source validation vs shifted target',
          ['metric', 'source', 'target', 'change %'],
          [[k, f'{src[k]:.4f}', f'{tgt[k]:.4f}',
            f'{shift["per_task"][k]:+.2f}'] for k in keys])
    print(f'mean relative change on the target: {shift["delta_ttt"]:+.2f}% '
          '(negative = the shift hurts)')

    summary = dict(source=src, target=tgt, shift_drop=shift)
    if 'trttt' in results:
        ad = results['trttt']
        d = delta_ttt(tgt, ad, keys)
        table('Target: Base vs TR-TTT (online, same batches)',
              ['metric', 'base', 'TR-TTT', 'change %'],
              [[k, f'{tgt[k]:.4f}', f'{ad[k]:.4f}',
                f'{d["per_task"][k]:+.2f}'] for k in keys])
        print(f'Δ_TTT = {d["delta_ttt"]:+.2f}%')
        summary.update(trttt=ad, delta_ttt=d)
        curve = osp.join(wd, 'trttt', 'ttt_curve.json')
        png = osp.join(wd, 'ttt_curve.png')
        run([py, 'tools/analysis/plot_ttt_curve.py', curve, '--out', png],
            osp.join(wd, 'plot.log'))
        print(f'curve: {png}')
    summary['seconds'] = round(time.time() - t0, 1)
    with open(osp.join(wd, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    print(f'\ndemo finished in {summary["seconds"]:.0f}s; metrics in {wd}')


if __name__ == '__main__':
    main()
