"""The `make demo` pipeline, end to end through the project's own tools.

1. synthetic benchmark (cached): source = Taskonomy layout, target = NYUD-v2
2. train the source model (tools/train.py; reused when its checkpoint exists)
3. evaluate it on the source validation split and on the target
4. adapt online on the target with TR-TTT (tools/test.py --tta-hook TRTTTHook)
5. print the tables, write metrics JSON and the Fig. 3 curve PNG
6. before/after panels of the last target batch (tools/test.py --show-dir),
   stacked into ttt_panels.png
7. on the same target batches: TR-TTT's statistics-only control (its source
   model, NormStatsHook with as many statistics passes as TR-TTT's steps, no
   gradient) and TR-TTT with the selected test-time setting
   (configs/trttt/synth_t2n_selected.py, chosen on the validation target);
   --no-controls skips them
"""
import argparse
import glob
import json
import math
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import time

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))
sys.path.insert(0, ROOT)

from trttt_mm.datasets.synthetic.benchmark import (  # noqa: E402
    DEFAULTS, GENERATOR, read_meta)
from trttt_mm.utils import read_json  # noqa: E402
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


def _load_config(config, cfg_options=()):
    """``config`` (relative to the repository) with ``cfg_options``
    (``KEY=VALUE`` strings) applied."""
    from mmengine.config import Config, DictAction
    cfg = Config.fromfile(osp.join(ROOT, config))
    if cfg_options:
        parser = argparse.ArgumentParser()
        parser.add_argument('--cfg-options', nargs='+', action=DictAction)
        cfg.merge_from_dict(parser.parse_args(
            ['--cfg-options', *cfg_options]).cfg_options)
    return cfg


def last_batch_interval(config, cfg_options=()):
    """A visualization interval that draws only the last target batch
    (``MultiTaskVisualizationHook`` draws batches k-1, 2k-1, ...), for the
    config with ``cfg_options`` (``KEY=VALUE`` strings) applied."""
    from mmengine.registry import init_default_scope
    from mmseg.registry import DATASETS
    cfg = _load_config(config, cfg_options)
    dataset = cfg.test_dataloader.dataset
    dataset.data_root = osp.join(ROOT, dataset.data_root)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    num = len(DATASETS.build(dataset))
    return max(1, math.ceil(num / cfg.test_dataloader.batch_size))


def stack_panels(folder, out, limit=None):
    """Stack the panels that tools/test.py --show-dir wrote under
    ``folder`` (in stream order; the first ``limit`` of them) into one PNG
    ``out`` (maximal lossless compression); returns their number."""
    import cv2
    import numpy as np
    files = glob.glob(osp.join(folder, 'vis_data', 'vis_image', '*.png'))
    files.sort(key=lambda f: int(re.search(r'_(\d+)\.png$', f).group(1)))
    panels = [cv2.imread(f) for f in files[:limit]]
    if not panels or any(p is None for p in panels):
        raise SystemExit(f'no readable panels under {folder}')
    width = max(p.shape[1] for p in panels)
    rows = [np.pad(p, ((0, 0), (0, width - p.shape[1]), (0, 0)),
                   constant_values=255) for p in panels]
    if not cv2.imwrite(out, np.concatenate(rows, axis=0),
                       [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise SystemExit(f'could not write {out}')
    return len(panels)


def same_size(meta, size=None):
    """Whether generator output ``meta`` has the image size ``size``
    (``(height, width)``; default: the generator's)."""
    p = meta.get('params', {})
    return (p.get('height'), p.get('width')) == (
        size or (DEFAULTS['height'], DEFAULTS['width']))


def generator_flags(options):
    """``['num_train=8', 'height=32']`` -> make_synthetic.py flags
    (``--num-train 8 --height 32``) and the parsed values."""
    flags, values = [], {}
    for item in options or []:
        key, sep, value = item.partition('=')
        if not sep or key not in DEFAULTS or key == 'seed':
            raise SystemExit(
                f'--data-options: expected KEY=VALUE with KEY one of '
                f'{sorted(k for k in DEFAULTS if k != "seed")}, got {item!r}')
        try:
            values[key] = int(value)
        except ValueError:
            raise SystemExit(f'--data-options: {key} must be an integer, '
                             f'got {value!r}') from None
        flags += ['--' + key.replace('_', '-'), value]
    return flags, values


def _trttt_steps(config, cfg_options=()):
    """TR-TTT's steps per batch in ``config`` (with the overrides): the
    statistics-only control makes as many statistics passes."""
    cfg = _load_config(config, cfg_options)
    hook = (cfg.get('ttt') or {}).get('TRTTTHook') or {}
    return int(hook.get('steps', 40))


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
    parser.add_argument(
        '--selected-config', default='configs/trttt/synth_t2n_selected.py',
        help='config holding the selected TR-TTT setting (same model as '
        '--config), run as the last control')
    parser.add_argument(
        '--no-controls', action='store_true',
        help='skip the statistics-only control and the selected setting')
    parser.add_argument(
        '--panels', type=int, default=None, metavar='N',
        help='stack the panels of the first N images of the last target '
        'batch into ttt_panels.png (default: all of them)')
    parser.add_argument(
        '--data-dir', default='data/synth',
        help='folder of the synthetic benchmark (made there when missing); '
        'the config\'s data roots are pointed at it')
    parser.add_argument(
        '--data-options', nargs='+', default=[], metavar='KEY=VALUE',
        help='generator settings instead of its defaults, e.g. num_train=8 '
        'height=32 (the arguments of tools/data/make_synthetic.py)')
    parser.add_argument(
        '--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
        help='config overrides passed to tools/train.py and tools/test.py')
    args = parser.parse_args()
    if args.panels is not None and args.panels < 1:
        raise SystemExit(f'--panels must be at least 1, got {args.panels}')
    t0 = time.time()
    py = sys.executable
    wd = osp.join(ROOT, args.work_dir)
    os.makedirs(wd, exist_ok=True)

    data_dir = osp.join(ROOT, args.data_dir)
    flags, values = generator_flags(args.data_options)
    size = (values.get('height', DEFAULTS['height']),
            values.get('width', DEFAULTS['width']))
    gen = [py, 'tools/data/make_synthetic.py', '--out', data_dir,
           '--seed', str(args.data_seed)] + flags
    # every run of train.py / test.py reads the data from data_dir
    opts = list(args.cfg_options)
    if osp.abspath(data_dir) != osp.join(ROOT, 'data', 'synth'):
        opts = [f'{loader}_dataloader.dataset.data_root={data_dir}/{layout}'
                for loader, layout in (('train', 'taskonomy'),
                                       ('val', 'taskonomy'),
                                       ('test', 'NYUDv2'))] + opts
    old = read_meta(data_dir)
    if old is not None and old.get('generator') == GENERATOR and \
            old.get('params', {}).get('seed') == args.data_seed and \
            not same_size(old, size):
        # an earlier version's demo data (another image size): the generator
        # replaces only the files its manifest lists
        print(f'  data/synth holds the demo data at '
              f"{old['params'].get('height')}x{old['params'].get('width')} "
              f'of an earlier version: regenerating it at '
              f'{size[0]}x{size[1]}')
        gen.append('--force')
    run(gen, osp.join(wd, 'make_synthetic.log'))
    print(f'  data ready ({time.time() - t0:.0f}s)')
    data = read_meta(data_dir)

    train_dir = osp.join(wd, 'train')
    last = osp.join(train_dir, 'last_checkpoint')
    settings_path = osp.join(train_dir, 'demo_settings.json')
    settings = dict(config=args.config, seed=args.seed,
                    data=data.get('params') if data else None,
                    cfg_options=opts)
    reuse = not args.retrain and osp.isfile(last)
    if reuse:
        if read_json(settings_path) != json.loads(json.dumps(settings)):
            print(f'  the model in {train_dir} was trained with other '
                  'settings (config, seed or data): training again')
            reuse = False
    if not reuse:
        run([py, 'tools/train.py', args.config, '--work-dir', train_dir,
             '--cfg-options', f'randomness.seed={args.seed}', *opts],
            osp.join(wd, 'train.log'))
        with open(settings_path, 'w') as f:
            json.dump(settings, f, indent=2)
    else:
        print(f'  reusing the trained model in {train_dir} (--retrain to '
              'train again)')
    with open(last) as f:
        ckpt = f.read().strip()
    print(f'  source model: {ckpt} ({time.time() - t0:.0f}s)')

    results = {}
    # With TR-TTT the monitor runs the unadapted model on the same batches
    # (base/* in its metrics): that is the target evaluation, no separate
    # pass needed.
    runs = [('source', ['--split', 'val'])]
    if args.skip_ttt:
        runs.append(('target', []))
    else:
        panel_dir = osp.join(wd, 'panels')
        shutil.rmtree(panel_dir, ignore_errors=True)  # the backend appends
        runs.append(('trttt', [
            '--tta-hook', 'TRTTTHook', '--show-dir', panel_dir,
            '--cfg-options', f'ttt.TRTTTHook.seed={args.seed}',
            'default_hooks.visualization.interval='
            f'{last_batch_interval(args.config, opts)}'
        ]))
    if not args.skip_ttt and not args.no_controls:
        if not osp.isfile(args.selected_config):
            raise SystemExit(f'--selected-config {args.selected_config} not '
                             'found (or pass --no-controls)')
        steps = _trttt_steps(args.config, opts)
        runs.append(('trttt_stats', [
            '--tta-hook', 'NormStatsHook', '--cfg-options',
            'ttt.NormStatsHook.mode=ema', 'ttt.NormStatsHook.momentum=0.1',
            f'ttt.NormStatsHook.passes={steps}']))
        runs.append(('trttt_selected', [
            '--config', args.selected_config, '--tta-hook', 'TRTTTHook',
            '--cfg-options', f'ttt.TRTTTHook.seed={args.seed}']))
    for name, extra in runs:
        out = osp.join(wd, f'metrics_{name}.json')
        config = args.config
        if extra[:1] == ['--config']:
            config, extra = extra[1], extra[2:]
        run([py, 'tools/test.py', config, ckpt, '--work-dir',
             osp.join(wd, name), '--metrics-out', out] + extra +
            (['--cfg-options', *opts] if opts else []),
            osp.join(wd, f'test_{name}.log'))
        with open(out) as f:
            results[name] = json.load(f)
        print(f'  evaluated {name} ({time.time() - t0:.0f}s)')
    if 'trttt' in results:
        results['target'] = {
            k[len('base/'):]: v for k, v in results['trttt'].items()
            if k.startswith('base/')}
        if not all(k in results['target'] for k in PRIMARY):
            raise SystemExit(
                'the TR-TTT run wrote no base/* metrics for '
                f'{[k for k in PRIMARY if k not in results["target"]]} '
                f'(expected from TTTMonitorHook); see {wd}/test_trttt.log')

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
        controls = [('TR-TTT (paper setting)', 'trttt'),
                    ('statistics only (NormStats, same passes)',
                     'trttt_stats'),
                    ('TR-TTT, selected setting', 'trttt_selected')]
        rows = []
        for label, name in controls:
            if name not in results:
                continue
            # each run's own unadapted model on the same batches
            base = {k[len('base/'):]: v for k, v in results[name].items()
                    if k.startswith('base/')}
            dd = delta_ttt(base, results[name], keys)
            summary.setdefault('controls', {})[name] = dict(
                metrics=results[name], delta_ttt=dd)
            rows.append([label, f'{dd["delta_ttt"]:+.2f}'] +
                        [f'{dd["per_task"][k]:+.2f}' for k in keys])
        if len(rows) > 1:
            table('Same target batches: where the gain comes from '
                  '(Δ_TTT %, per task %)', ['run', 'Δ_TTT'] + list(keys),
                  rows)
        curve = osp.join(wd, 'trttt', 'ttt_curve.json')
        png = osp.join(wd, 'ttt_curve.png')
        run([py, 'tools/analysis/plot_ttt_curve.py', curve, '--out', png],
            osp.join(wd, 'plot.log'))
        print(f'curve: {png}')
        panels = osp.join(wd, 'ttt_panels.png')
        n = stack_panels(panel_dir, panels, args.panels)
        print(f'panels (input, ground truth, before/after TR-TTT) of {n} '
              f'image(s) of the last target batch: {panels}')
    summary['seconds'] = round(time.time() - t0, 1)
    with open(osp.join(wd, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    print(f'\ndemo finished in {summary["seconds"]:.0f}s; metrics in {wd}')


if __name__ == '__main__':
    main()
