"""Where does TR-TTT's gain come from, per test-time loss preset?

    python tools/analysis/loss_preset_study.py CONFIG CKPT [CKPT ...]
        --work-dir DIR [--presets activated_l1 released paper]
        [--norm-modes eval train] [--steps N] [--cfg-options k=v ...]

For every checkpoint (one per training seed), every loss preset of
``TRTTTHook`` and every norm-layer mode while adapting (``eval``: the norm
statistics are frozen, so only the gradient of the TRL objective can change
the predictions; ``train``: the statistics move as in the paper), runs
``tools/test.py CONFIG CKPT --tta-hook TRTTTHook`` (base model on the same
batches) and collects Δ_TTT and the per-task changes. A control run with
``lr=0`` (statistics move, no parameter update) is added per checkpoint.
Writes ``DIR/study.json`` and prints a Markdown table (mean ± std over the
checkpoints). Finished runs are reused (their metrics JSON exists).
"""
import argparse
import json
import os
import os.path as osp
import statistics
import subprocess
import sys

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
KEYS = ('semseg/mIoU', 'depth/rmse', 'normal/mean_angle', 'edge/rmse')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config')
    p.add_argument('checkpoints', nargs='+')
    p.add_argument('--work-dir', required=True)
    p.add_argument('--presets', nargs='+',
                   default=['activated_l1', 'released', 'paper'])
    p.add_argument('--norm-modes', nargs='+', default=['eval', 'train'])
    p.add_argument('--steps', type=int, default=None)
    p.add_argument('--cfg-options', nargs='+', default=[])
    return p.parse_args(argv)


def run_one(args, ckpt, name, options):
    out = osp.join(args.work_dir, f'{name}.json')
    if osp.isfile(out):
        with open(out) as f:
            return json.load(f)
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'test.py'), args.config,
           ckpt, '--tta-hook', 'TRTTTHook', '--work-dir',
           osp.join(args.work_dir, name), '--metrics-out', out,
           '--cfg-options', 'ttt.TTTMonitorHook.curve=False'] + options + \
        list(args.cfg_options)
    if args.steps is not None:
        cmd.append(f'ttt.TRTTTHook.steps={args.steps}')
    print('$ ' + ' '.join(cmd), flush=True)
    log = osp.join(args.work_dir, f'{name}.log')
    with open(log, 'w') as f:
        res = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
    if res.returncode != 0:
        raise SystemExit(f'run {name} failed; see {log}')
    with open(out) as f:
        return json.load(f)


def fmt(values):
    if not values:
        return '–'
    m = statistics.mean(values)
    s = statistics.stdev(values) if len(values) > 1 else 0.0
    return f'{m:+.2f} ± {s:.2f}'


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.work_dir, exist_ok=True)
    rows = {}
    for i, ckpt in enumerate(args.checkpoints):
        settings = [(f'lr0_train', ['ttt.TRTTTHook.optimizer.lr=0.0',
                                    'ttt.TRTTTHook.norm_mode=train'])]
        for preset in args.presets:
            for mode in args.norm_modes:
                settings.append((f'{preset}_{mode}', [
                    f'ttt.TRTTTHook.loss={preset}',
                    f'ttt.TRTTTHook.norm_mode={mode}'
                ]))
        for name, options in settings:
            m = run_one(args, ckpt, f'{name}_ckpt{i}', options)
            rows.setdefault(name, []).append(m)
    table = ['| setting | Δ_TTT (%) | ' + ' | '.join(
        f'Δ {k} (%)' for k in KEYS) + ' | steps | non-finite skips |',
        '| --- ' * (len(KEYS) + 4) + '|']
    summary = {}
    for name, runs in rows.items():
        d = [r['delta_ttt'] for r in runs if 'delta_ttt' in r]
        per = [[r.get(f'delta/{k}') for r in runs
                if r.get(f'delta/{k}') is not None] for k in KEYS]
        summary[name] = dict(delta_ttt=d, per_task={
            k: v for k, v in zip(KEYS, per)},
            steps=[r.get('ttt/steps') for r in runs],
            nonfinite_skips=[r.get('ttt/nonfinite_skips') for r in runs])
        table.append(f'| {name} | {fmt(d)} | ' + ' | '.join(
            fmt(v) for v in per) + f" | {runs[0].get('ttt/steps')} | "
            f"{sum(r.get('ttt/nonfinite_skips', 0) for r in runs)} |")
    with open(osp.join(args.work_dir, 'study.json'), 'w') as f:
        json.dump(dict(config=args.config, checkpoints=args.checkpoints,
                       summary=summary), f, indent=2)
    print('\n'.join(table))


if __name__ == '__main__':
    main()
