"""tools/analysis/benchmark_ttt_step.py: the step-cost measurement of the
benchmark's cost table, on a tiny model."""
import importlib.util
import os.path as osp

import pytest

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))


def _tool():
    path = osp.join(ROOT, 'tools', 'analysis', 'benchmark_ttt_step.py')
    spec = importlib.util.spec_from_file_location('benchmark_ttt_step', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


TINY = '''
model = dict(
    type='MultiTaskEncoderDecoder',
    data_preprocessor=dict(
        type='MultiTaskDataPreProcessor', mean=[0, 0, 0], std=[1, 1, 1],
        bgr_to_rgb=False, size_divisor=32),
    backbone=dict(type='ResNetV1c', depth=18, stem_channels=8,
                  base_channels=8, out_indices=(0, 1, 2, 3)),
    decode_head=dict(type='MultiTaskHead', in_channels=[8, 16, 32, 64],
                     channels=16, head_channels=8, num_classes=3),
    aux_heads=dict(simclr=dict(type='ContrastiveProjectionHead',
                               in_index=-1, stats_chunk=6)))
'''


def test_stats_min_samples_declared():
    from mmseg.registry import MODELS
    from mmengine.registry import init_default_scope

    import trttt_mm  # noqa: F401
    init_default_scope('mmseg')
    head = MODELS.build(dict(
        type='ContrastiveProjectionHead', in_index=-1, stats_chunk=6,
        context=dict(feat_channels=[8, 16, 32, 64], shared_channels=16,
                     out_channels=dict(semseg=3))))
    assert head.stats_min_samples == 12
    feats = MODELS.build(dict(
        type='FeatureStatsHead',
        context=dict(feat_channels=[8, 16, 32, 64], shared_channels=16,
                     out_channels=dict(semseg=3))))
    assert feats.stats_min_samples == 1


@pytest.mark.parametrize('hook', ['TTTPlusPlusHook', 'NormStatsHook'])
def test_step_cost_with_chunked_source_stats(tmp_path, hook):
    """TTT++'s head needs two chunks of source samples (12 here), more than
    one batch of 2: the tool fills its statistics from enough distinct
    random batches instead of failing in ``stats_end``."""
    cfg = tmp_path / 'tiny.py'
    cfg.write_text(TINY)
    res = _tool().main([str(cfg), '--hook', hook, '--batch-size', '2',
                        '--height', '32', '--width', '32', '--repeats', '1',
                        '--device', 'cpu'])
    assert res['hook'] == hook
    assert res['batch'] == [2, 3, 32, 32]
    assert res['plain_fwd_bwd_s'] > 0 and res['ttt_step_s'] > 0
    assert res['ratio'] == pytest.approx(
        res['ttt_step_s'] / res['plain_fwd_bwd_s'], rel=0.05)
    assert res['params_aux_heads'] > 0


def _profile_tool():
    path = osp.join(ROOT, 'tools', 'analysis', 'profile_train_step.py')
    spec = importlib.util.spec_from_file_location('profile_train_step', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_profile_train_step_phases_and_ablation(tmp_path, capsys):
    """The profile of one training iteration: every branch's forward and
    losses are phases, the step without auxiliary heads is measured (not
    attributed) and the operator table is there."""
    cfg = tmp_path / 'tiny.py'
    cfg.write_text(TINY.replace(
        "aux_heads=dict(simclr=dict(type='ContrastiveProjectionHead',\n"
        "                               in_index=-1, stats_chunk=6)))",
        "aux_heads=dict(relation=dict(\n"
        "        type='TaskRelationHead',\n"
        "        projection=dict(type='TaskProjectionNeck', latent_channels=8),"
        "\n        learner=dict(type='TaskRelationLearner', input_size=16,\n"
        "                     patch_size=4, embed_dim=16, depth=1,\n"
        "                     decoder_depth=1, num_heads=2))))\n"
        "optim_wrapper = dict(type='OptimWrapper',\n"
        "                     optimizer=dict(type='SGD', lr=0.01))\n"))
    tool = _profile_tool()
    res = tool.main([str(cfg), '--batch-size', '2', '--height', '32',
                     '--width', '32', '--repeats', '1', '--top', '5',
                     '--device', 'cpu'])
    assert set(res['phases_s']) == {
        'preprocess', 'encoder', 'main.forward', 'relation.forward',
        'main.losses', 'relation.losses', 'backward', 'optimizer'}
    assert res['step_s'] > 0 and res['without_aux_heads_step_s'] > 0
    assert res['aux_heads_share'] == pytest.approx(
        1 - res['without_aux_heads_step_s'] / res['step_s'], abs=2e-3)
    assert 1 <= len(res['top_ops']) <= 5
    assert 'relation.forward' in capsys.readouterr().out
    with pytest.raises(SystemExit):
        tool.main([str(cfg), '--repeats', '0'])
