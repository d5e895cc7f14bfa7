"""Baselines I end to end: a tiny trained checkpoint, ActMAD's source
statistics added by one command, then `tools/test.py --tta-hook NAME` with
the monitor's eval_source; and the ActMAD paper-setting configs."""
import hashlib
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import trttt_mm  # noqa: F401
from config_helpers import tiny as tiny_config
from mmseg.registry import MODELS
from trttt_mm.datasets.synthetic import generate_benchmark
from model_helpers import assert_base_and_delta
from tool_helpers import load_tool

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
ACTMAD = osp.join(ROOT, 'configs', 'baselines', 'actmad', 'synth_t2n.py')
HOOKS = ('NormStatsHook', 'TENTHook', 'TIPIHook', 'ActMADHook')


def data_options(root):
    return [
        f'train_dataloader.dataset.data_root={root}/taskonomy',
        f'val_dataloader.dataset.data_root={root}/taskonomy',
        f'test_dataloader.dataset.data_root={root}/NYUDv2',
        'train_dataloader.batch_size=2', 'test_dataloader.batch_size=2',
        'val_dataloader.batch_size=2',
    ]


def sha(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope='module')
def bench(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('bi_synth'))
    generate_benchmark(root, seed=1, num_train=4, num_val=2,
                       num_target_train=2, num_target_val=4, height=48,
                       width=64, images_per_building=2, progress=False)
    return root


@pytest.fixture(scope='module')
def checkpoints(bench, tmp_path_factory):
    """The ActMAD demo config trained 2 iterations (SourceStatsHook fills the
    statistics: ``trained``); the same weights without the statistics
    (``plain``: a checkpoint of the multi-task model as any source-only
    training gives it); and ``stats``: ``plain`` plus the statistics from
    tools/analysis/source_stats.py."""
    work = str(tmp_path_factory.mktemp('bi_train'))
    torch.set_num_threads(1)
    load_tool('train').main([
        ACTMAD, '--work-dir', work, '--cfg-options', 'train_cfg.max_iters=2',
        'train_cfg.val_interval=100', 'default_hooks.checkpoint.interval=2',
        'param_scheduler.0.end=2', *data_options(bench)
    ])
    trained = osp.join(work, 'iter_2.pth')
    ck = torch.load(trained, weights_only=True)
    ck['state_dict'] = {k: v for k, v in ck['state_dict'].items()
                        if not k.startswith('aux_heads.actmad.')}
    plain = osp.join(work, 'plain.pth')
    torch.save(ck, plain)
    stats = osp.join(work, 'plain_actmad.pth')
    load_tool('analysis/source_stats').main([
        ACTMAD, plain, '--out', stats, '--cfg-options',
        *data_options(bench)])
    init_default_scope('mmseg')
    return dict(trained=trained, plain=plain, stats=stats)


@pytest.fixture(scope='module')
def base_metrics(checkpoints, bench, tmp_path_factory):
    out = str(tmp_path_factory.mktemp('bi_base') / 'base.json')
    load_tool('test').main([ACTMAD, checkpoints['plain'], '--work-dir',
                            osp.dirname(out), '--metrics-out', out,
                            '--cfg-options', *data_options(bench)])
    init_default_scope('mmseg')
    return json.load(open(out))


def test_source_stats_tool_adds_actmad_statistics(checkpoints):
    """The tool on a checkpoint without statistics adds what SourceStatsHook
    adds at the end of training, and nothing else changes."""
    trained = torch.load(checkpoints['trained'], weights_only=True)
    plain = torch.load(checkpoints['plain'], weights_only=True)['state_dict']
    stats = torch.load(checkpoints['stats'], weights_only=True)
    keys = [k for k in stats['state_dict']
            if k.startswith('aux_heads.actmad.')]
    assert any('.mean__backbone__' in k for k in keys)
    assert any('.var__decode_head__decoders__' in k for k in keys)
    assert not any(k.startswith('aux_heads.relation.') for k in plain)
    assert float(stats['state_dict']['aux_heads.actmad.stats_batches']) == 2
    assert stats['meta']['source_stats']['heads'] == ['actmad']
    for k, v in plain.items():  # the weights are the input's
        assert torch.equal(stats['state_dict'][k], v)
    # the same layers and map sizes (the values differ: the pass reads the
    # training pipeline, whose random flips are not seeded)
    assert sorted(keys) == sorted(k for k in trained['state_dict']
                                  if k.startswith('aux_heads.actmad.'))
    for k in keys:
        assert stats['state_dict'][k].shape == trained['state_dict'][k].shape


@pytest.mark.parametrize('hook', HOOKS)
def test_tta_hook_end_to_end(hook, checkpoints, base_metrics, bench,
                             tmp_path):
    """Each hook through tools/test.py with eval_source=True (the config
    default): base metrics equal the plain test run's, adapted and Δ_TTT
    are reported, the checkpoint on disk is untouched. NormStats, TENT and
    TIPI adapt the checkpoint without statistics (the head in the config is
    empty and unused); ActMAD the one with them."""
    config = ACTMAD
    ckpt = checkpoints['stats' if hook == 'ActMADHook' else 'plain']
    digest = sha(ckpt)
    out = str(tmp_path / 'metrics.json')
    load_tool('test').main([
        config, ckpt, '--tta-hook', hook, '--work-dir', str(tmp_path),
        '--metrics-out', out, '--cfg-options', *data_options(bench)])
    init_default_scope('mmseg')
    metrics = json.load(open(out))
    # 4 target images, batch 2: 2 batches, one step each (NormStats: none)
    assert metrics['ttt/steps'] == (0 if hook == 'NormStatsHook' else 2)
    assert metrics['ttt/nonfinite_skips'] == 0
    for key in ('semseg/mIoU', 'depth/rmse', 'normal/mean_angle',
                'edge/rmse'):
        assert key in metrics
        assert metrics[f'base/{key}'] == pytest.approx(base_metrics[key],
                                                       rel=1e-5)
    assert_base_and_delta(metrics)
    assert sha(ckpt) == digest
    curve = json.load(open(osp.join(str(tmp_path), 'ttt_curve.json')))
    assert curve['method'] == hook and len(curve['metrics']) == 2


def test_actmad_without_statistics_says_what_to_run(checkpoints, bench,
                                                    tmp_path):
    with pytest.raises(RuntimeError, match='source_stats.py'):
        load_tool('test').main([
            ACTMAD, checkpoints['plain'], '--tta-hook', 'ActMADHook', '--work-dir',
            str(tmp_path), '--cfg-options', *data_options(bench)])
    init_default_scope('mmseg')


# ------------------------------------------------- ActMAD paper settings
SETTINGS = {
    # name: (source folder, target folder)
    't2n': ('taskonomy', 'NYUDv2'),
    't2p': ('taskonomy', 'PASCAL_MT'),
    'n2t': ('NYUDv2', 'taskonomy'),
    'p2t': ('PASCAL_MT', 'taskonomy'),
}


def load_setting(name):
    return Config.fromfile(
        osp.join(ROOT, 'configs', 'baselines', 'actmad', f'{name}.py'))


@pytest.fixture(scope='module')
def paper_synth(tmp_path_factory):
    out = tmp_path_factory.mktemp('bi_paper') / 'synth'
    generate_benchmark(
        str(out), layouts=('taskonomy', 'nyudv2', 'pascal'), num_train=2,
        num_val=2, num_target_train=2, num_target_val=2, height=32, width=40,
        images_per_building=2, progress=False)
    return str(out)


@pytest.mark.parametrize('name', sorted(SETTINGS))
def test_actmad_paper_config_builds(name):
    cfg = load_setting(name)
    trttt = Config.fromfile(osp.join(ROOT, 'configs', 'trttt', f'{name}.py'))
    assert cfg.model.aux_heads.actmad == dict(type='ActMADStatsHead')
    # TR-TTT's model without its branch: backbone, heads, data and schedule
    assert cfg.model.aux_heads.relation is None
    for key in ('backbone', 'decode_head', 'data_preprocessor'):
        assert cfg.model[key] == trttt.model[key]
    for key in ('train_dataloader', 'test_dataloader', 'optim_wrapper',
                'train_cfg'):
        assert cfg[key] == trttt[key]
    assert [h.type for h in cfg.custom_hooks][-1] == 'SourceStatsHook'
    assert cfg.ttt.ActMADHook.optimizer == dict(
        type='SGD', lr=1e-4, momentum=0.9, nesterov=True, weight_decay=5e-4)
    model = MODELS.build(cfg.model)
    head = model.aux_heads['actmad']
    assert not head.stats_ready() and not list(head.parameters())
    assert len(head.bn_layers(model)) >= 53  # ResNet-50 alone has 53


def tiny(cfg, synth, work_dir):
    return tiny_config(cfg, synth, work_dir, 'ActMADHook',
                       {'train_cfg.val_interval': 100}, steps=None)


@pytest.mark.parametrize('name', sorted(SETTINGS))
def test_actmad_paper_config_smoke_run(name, paper_synth, tmp_path):
    """One training iteration (SourceStatsHook then fills the statistics
    from the source training set) and one ActMAD test pass."""
    from mmengine.runner import Runner
    cfg = tiny(load_setting(name), paper_synth, str(tmp_path / 'work'))
    cfg.experiment_name = f'actmad_{name}'
    runner = Runner.from_cfg(cfg)
    runner.train()
    head = runner.model.aux_heads['actmad']
    assert head.stats_ready() and int(head.stats_batches) == 1
    metrics = runner.test()
    init_default_scope('mmseg')
    assert metrics['ttt/steps'] == 1
    # eval_source (Δ_TTT itself is undefined when a base metric is 0, as
    # happens with a one-iteration model)
    assert 'base/semseg/mIoU' in metrics and 'base/edge/rmse' in metrics
    ck = torch.load(osp.join(str(tmp_path / 'work'), 'iter_1.pth'),
                    weights_only=True)
    assert 'aux_heads.actmad.stats_batches' in ck['state_dict']


# ------------------------------------------------------------------- DDP
@pytest.mark.dist
def test_two_process_cpu_baselines(checkpoints, bench, tmp_path):
    """The hooks under DDP (2 CPU processes) on the multi-task model: the
    statistics-only path (NormStats) and the one with source statistics
    (ActMAD); the updates go through the wrapped model and the metrics come
    back. TENT and TIPI, whose DDP path is the base class's, run under DDP
    on the plain mmseg model (tests/test_engine/test_plain_segmentor.py),
    and TR-TTT on this one (tests/test_tools/test_end_to_end.py)."""
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    env.pop('CUDA_VISIBLE_DEVICES', None)
    for port, hook in ((29541, 'NormStatsHook'), (29544, 'ActMADHook')):
        config = ACTMAD
        ckpt = checkpoints['stats' if hook == 'ActMADHook' else 'plain']
        out = str(tmp_path / f'{hook}.json')
        cmd = [
            sys.executable, '-m', 'torch.distributed.run',
            '--nproc_per_node=2', f'--master_port={port}',
            osp.join(ROOT, 'tools', 'test.py'), config, ckpt, '--launcher',
            'pytorch', '--tta-hook', hook, '--work-dir',
            str(tmp_path / hook), '--metrics-out', out, '--cfg-options',
            'test_dataloader.batch_size=2', *data_options(bench)[:3]
        ]
        res = subprocess.run(cmd, capture_output=True, text=True, env=env,
                             timeout=300, cwd=ROOT)
        log = res.stdout + res.stderr
        assert res.returncode == 0, log[-3000:]
        metrics = json.load(open(out))
        # 4 images, 2 ranks x batch 2: one batch per rank, one step each
        assert metrics['ttt/steps'] == (0 if hook == 'NormStatsHook' else 1)
        assert_base_and_delta(metrics)
