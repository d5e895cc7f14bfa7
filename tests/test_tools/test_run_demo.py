"""tools/run_demo.py: recognising demo data of an earlier image size, its
options, and the whole pipeline on a tiny setting."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

from tool_helpers import ROOT, load_tool

TASKS = ('semseg', 'depth', 'normal', 'edge')
PRIMARY = ('semseg/mIoU', 'depth/rmse', 'normal/mean_angle', 'edge/rmse')


def test_read_meta_and_same_size(tmp_path):
    demo = load_tool('run_demo')
    from trttt_mm.datasets.synthetic.benchmark import DEFAULTS, read_meta
    assert read_meta(str(tmp_path)) is None  # no meta.json
    (tmp_path / 'meta.json').write_text('{not json')
    assert read_meta(str(tmp_path)) is None  # unreadable: no claim
    (tmp_path / 'meta.json').write_text('[1, 2]')
    assert read_meta(str(tmp_path)) is None  # not a generator's meta
    meta = dict(generator='trttt_mm.datasets.synthetic',
                params=dict(seed=0, height=96, width=128))
    (tmp_path / 'meta.json').write_text(json.dumps(meta))
    assert read_meta(str(tmp_path)) == meta
    # the pre-change demo data (96x128) are not the current size
    assert not demo.same_size(meta)
    meta['params'].update(height=DEFAULTS['height'], width=DEFAULTS['width'])
    assert demo.same_size(meta)
    assert (DEFAULTS['height'], DEFAULTS['width']) == (64, 96)


def test_generator_flags():
    demo = load_tool('run_demo')
    assert demo.generator_flags(['num_train=8', 'height=32']) == (
        ['--num-train', '8', '--height', '32'], dict(num_train=8, height=32))
    for bad in ('num_trains=8', 'height', 'height=big', 'seed=1'):
        with pytest.raises(SystemExit, match='--data-options'):
            demo.generator_flags([bad])


@pytest.mark.slow
def test_run_demo_end_to_end_on_a_tiny_setting(tmp_path):
    """`make demo`'s pipeline through the real tools, on tiny data and a
    tiny model: data, training, source validation, TR-TTT with the
    unadapted model alongside, tables, summary.json (what README's demo
    figures come from, and what aggregate_runs.py reads), the curve."""
    from trttt_mm.evaluation.delta_ttt import delta_ttt
    work, data = tmp_path / 'demo', tmp_path / 'data'
    tiny = [
        'model.backbone.stem_channels=8', 'model.backbone.base_channels=8',
        'model.decode_head.in_channels=[8,16,32,64]',
        'model.decode_head.channels=16', 'model.decode_head.head_channels=8',
        'train_cfg.max_iters=2', 'train_cfg.val_interval=100',
        'param_scheduler.0.end=2', 'default_hooks.checkpoint.interval=2',
        'train_dataloader.batch_size=4', 'val_dataloader.batch_size=2',
        'test_dataloader.batch_size=2', 'ttt.TRTTTHook.steps=2'
    ]
    selected = tmp_path / 'selected.py'
    selected.write_text(
        f"_base_ = ['{ROOT}/configs/trttt/synth_t2n.py']\n"
        "ttt = dict(TRTTTHook=dict(optimizer=dict(lr=0.01)))\n")
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'run_demo.py'),
           '--selected-config', str(selected),
           '--work-dir', str(work), '--data-dir', str(data),
           '--data-options', 'num_train=8', 'num_val=2',
           'num_target_train=2', 'num_target_val=4', 'height=32',
           'width=48', 'images_per_building=4', '--cfg-options', *tiny]
    env = dict(os.environ, OMP_NUM_THREADS='1')
    res = subprocess.run(cmd, capture_output=True, text=True, env=env,
                         timeout=900, cwd=ROOT)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    meta = json.load(open(data / 'meta.json'))['params']
    assert (meta['height'], meta['counts']['taskonomy']['train']) == (32, 8)
    summary = json.load(open(work / 'summary.json'))
    trttt, target = summary['trttt'], summary['target']
    # 4 target images in batches of 2, 2 steps each; a healthy run
    assert trttt['ttt/steps'] == 4 and trttt['ttt/nonfinite_skips'] == 0
    assert all(trttt[f'{t}/nonfinite'] == 0 for t in TASKS)
    # the target table is the monitor's unadapted model on the same batches
    assert target == {k[len('base/'):]: v for k, v in trttt.items()
                      if k.startswith('base/')}
    keys = list(summary['delta_ttt']['per_task'])
    assert keys == [k for k in PRIMARY if k in target]
    assert summary['delta_ttt']['delta_ttt'] == pytest.approx(
        delta_ttt(target, trttt, keys)['delta_ttt'])
    assert summary['shift_drop']['delta_ttt'] == pytest.approx(
        delta_ttt(summary['source'], target, keys)['delta_ttt'])
    assert f'Δ_TTT = {summary["delta_ttt"]["delta_ttt"]:+.2f}%' in res.stdout
    # the controls ran on the same batches with the same unadapted model
    controls = summary['controls']
    assert sorted(controls) == ['trttt', 'trttt_selected', 'trttt_stats']
    for name, run in controls.items():
        base = {k: v for k, v in run['metrics'].items()
                if k.startswith('base/')}
        assert base == {k: v for k, v in trttt.items()
                        if k.startswith('base/')}, name
        assert run['delta_ttt']['delta_ttt'] == pytest.approx(delta_ttt(
            target, run['metrics'], keys)['delta_ttt'])
    assert controls['trttt_selected']['metrics']['ttt/steps'] == 4
    assert 'where the gain comes from' in res.stdout
    png = work / 'ttt_curve.png'
    assert png.read_bytes()[:4] == b'\x89PNG'
    agg = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'analysis',
                                  'aggregate_runs.py'), str(work)],
        capture_output=True, text=True)
    assert agg.returncode == 0, agg.stderr
    assert f'(per run: {summary["delta_ttt"]["delta_ttt"]:+.2f})' \
        in agg.stdout
    settings = json.load(open(work / 'train' / 'demo_settings.json'))
    assert settings['cfg_options'][-len(tiny):] == tiny
    assert settings['data'] == meta
    assert settings['cfg_options'][0] == (
        f'train_dataloader.dataset.data_root={data}/taskonomy')
