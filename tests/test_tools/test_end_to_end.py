"""train -> checkpoint -> test -> TR-TTT through the project's own tools."""
import hashlib
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from trttt_mm.datasets.synthetic import generate_benchmark
from model_helpers import assert_base_and_delta
from tool_helpers import load_tool

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
CONFIG = osp.join(ROOT, 'configs', 'trttt', 'synth_t2n.py')


def data_options(root):
    return [
        f'train_dataloader.dataset.data_root={root}/taskonomy',
        f'val_dataloader.dataset.data_root={root}/taskonomy',
        f'test_dataloader.dataset.data_root={root}/NYUDv2',
        'train_dataloader.batch_size=4', 'test_dataloader.batch_size=4',
        'val_dataloader.batch_size=4',
    ]


@pytest.fixture(scope='module')
def bench(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synth'))
    generate_benchmark(root, seed=1, num_train=8, num_val=4,
                       num_target_train=4, num_target_val=8, height=48,
                       width=64, images_per_building=4, progress=False)
    return root


@pytest.fixture(scope='module')
def trained(bench, tmp_path_factory):
    work = str(tmp_path_factory.mktemp('train'))
    train = load_tool('train')
    train.main([
        CONFIG, '--work-dir', work, '--cfg-options', 'train_cfg.max_iters=4',
        'train_cfg.val_interval=4', 'default_hooks.checkpoint.interval=2',
        'default_hooks.checkpoint.max_keep_ckpts=3',
        'param_scheduler.0.end=4', 'default_hooks.logger.interval=1',
        *data_options(bench)
    ])
    ckpt = osp.join(work, 'iter_4.pth')
    assert osp.isfile(ckpt)
    return work, ckpt


def sha(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_checkpoint_is_weights_only_loadable(trained):
    _, ckpt = trained
    ck = torch.load(ckpt, weights_only=True)  # no global switch, no allow-list
    assert 'state_dict' in ck and 'message_hub' in ck
    assert ck['meta']['iter'] == 4


def test_resume_continues_from_the_checkpoint(trained, bench):
    work, _ = trained
    train = load_tool('train')
    train.main([
        CONFIG, '--work-dir', work, '--resume', '--cfg-options',
        'train_cfg.max_iters=6', 'train_cfg.val_interval=100',
        'default_hooks.checkpoint.interval=2', 'param_scheduler.0.end=6',
        'default_hooks.checkpoint.max_keep_ckpts=3', *data_options(bench)
    ])
    assert osp.isfile(osp.join(work, 'iter_6.pth'))
    ck = torch.load(osp.join(work, 'iter_6.pth'), weights_only=True)
    assert ck['meta']['iter'] == 6


def test_test_and_trttt_end_to_end(trained, bench, tmp_path):
    _, ckpt = trained
    digest = sha(ckpt)
    test = load_tool('test')
    base_out = str(tmp_path / 'base.json')
    test.main([CONFIG, ckpt, '--work-dir', str(tmp_path / 'base'),
               '--metrics-out', base_out, '--cfg-options',
               *data_options(bench)])
    base = json.load(open(base_out))
    for key in ('semseg/mIoU', 'depth/rmse', 'normal/mean_angle',
                'edge/rmse'):
        assert key in base
    ttt_out = str(tmp_path / 'ttt.json')
    test.main([CONFIG, ckpt, '--tta-hook', 'TRTTTHook', '--work-dir',
               str(tmp_path / 'ttt'), '--metrics-out', ttt_out,
               '--cfg-options', 'ttt.TRTTTHook.steps=2', *data_options(bench)])
    adapted = json.load(open(ttt_out))
    assert adapted['ttt/steps'] == 2 * 2  # 8 target images, batch 4
    # eval_source (config default) evaluates the unadapted model on the same
    # batches: its numbers equal the plain test run's.
    for key in ('semseg/mIoU', 'depth/rmse', 'normal/mean_angle'):
        assert adapted[f'base/{key}'] == pytest.approx(base[key], rel=1e-5)
    assert 'delta_ttt' in adapted
    assert sha(ckpt) == digest  # the checkpoint on disk is untouched
    curve = str(tmp_path / 'ttt' / 'ttt_curve.json')
    assert osp.isfile(curve)
    png = str(tmp_path / 'curve.png')
    load_tool('analysis/plot_ttt_curve').main([curve, '--out', png])
    assert open(png, 'rb').read(4) == b'\x89PNG'
    # delta tool on the two files agrees with the hook's number
    res = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools/analysis/delta_ttt.py'),
         base_out, ttt_out, '--json'], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)['delta_ttt'] == pytest.approx(
        adapted['delta_ttt'], abs=1e-6)


def test_unknown_tta_hook_is_refused(trained):
    _, ckpt = trained
    test = load_tool('test')
    with pytest.raises(SystemExit, match='TRTTTHook'):
        test.main([CONFIG, ckpt, '--tta-hook', 'NoSuchHook'])
    with pytest.raises(SystemExit, match='checkpoint not found'):
        test.main([CONFIG, ckpt + '.missing'])


@pytest.mark.dist
def test_two_process_cpu_training(bench, tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    env.pop('CUDA_VISIBLE_DEVICES', None)
    cmd = [
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
        '--master_port=29517', osp.join(ROOT, 'tools', 'train.py'), CONFIG,
        '--launcher', 'pytorch', '--work-dir', str(tmp_path), '--cfg-options',
        'train_cfg.max_iters=2', 'train_cfg.val_interval=100',
        'default_hooks.checkpoint.interval=2', 'param_scheduler.0.end=2',
        'default_hooks.logger.interval=1', *data_options(bench)
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env,
                         timeout=300, cwd=ROOT)
    log = res.stdout + res.stderr
    assert res.returncode == 0, log[-3000:]
    assert 'Distributed training: True' in log
    assert 'GPU number: 2' in log  # mmengine's name for the world size
    assert osp.isfile(osp.join(tmp_path, 'iter_2.pth'))


def test_amp_without_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip('CUDA present: --amp is valid here')
    with pytest.raises(SystemExit, match='--amp needs a CUDA device'):
        load_tool('train').main([CONFIG, '--amp'])


@pytest.mark.dist
def test_two_process_cpu_trttt(trained, bench, tmp_path):
    """TR-TTT under DDP: the update goes through the wrapped model."""
    _, ckpt = trained
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    out = str(tmp_path / 'metrics.json')
    cmd = [
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
        '--master_port=29518', osp.join(ROOT, 'tools', 'test.py'), CONFIG,
        ckpt, '--launcher', 'pytorch', '--tta-hook', 'TRTTTHook',
        '--work-dir', str(tmp_path), '--metrics-out', out, '--cfg-options',
        'ttt.TRTTTHook.steps=2', 'test_dataloader.batch_size=2',
        *data_options(bench)[:3]
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env,
                         timeout=300, cwd=ROOT)
    log = res.stdout + res.stderr
    assert res.returncode == 0, log[-3000:]
    metrics = json.load(open(out))
    # 8 target images, 2 ranks x batch 2 -> 2 batches per rank, 2 steps each
    assert metrics['ttt/steps'] == 4
    assert_base_and_delta(metrics)


def test_bad_tool_inputs_are_named(tmp_path):
    with pytest.raises(SystemExit, match='config file not found'):
        load_tool('train').main([str(tmp_path / 'nope.py')])
    bad = tmp_path / 'curve.json'
    bad.write_text('{"metrics": []}')
    plot = load_tool('analysis/plot_ttt_curve')
    with pytest.raises(SystemExit, match='no per-batch metrics'):
        plot.main([str(bad), '--out', str(tmp_path / 'x.png')])
    with pytest.raises(SystemExit, match='cannot read'):
        plot.main([str(tmp_path / 'missing.json'), '--out',
                   str(tmp_path / 'x.png')])
