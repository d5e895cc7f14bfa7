"""tools/analysis/benchmark_ttt_step.py: the step-cost measurement of the
benchmark's cost table, on a tiny model."""

import pytest

from model_helpers import small_model_cfg
from tool_helpers import load_tool


def write_config(path, aux_heads, **extra):
    from mmengine.config import Config
    model = small_model_cfg(relation=False)
    model['aux_heads'] = aux_heads
    Config(dict(model=model, **extra)).dump(str(path))
    return str(path)


SIMCLR = dict(simclr=dict(type='ContrastiveProjectionHead', in_index=-1,
                          stats_chunk=6))


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
    cfg = write_config(tmp_path / 'tiny.py', SIMCLR)
    res = load_tool('analysis/benchmark_ttt_step').main([cfg, '--hook', hook, '--batch-size', '2',
                        '--height', '32', '--width', '32', '--repeats', '1',
                        '--device', 'cpu'])
    assert res['hook'] == hook
    assert res['batch'] == [2, 3, 32, 32]
    assert res['plain_fwd_bwd_s'] > 0 and res['ttt_step_s'] > 0
    assert res['ratio'] == pytest.approx(
        res['ttt_step_s'] / res['plain_fwd_bwd_s'], rel=0.05)
    assert res['params_aux_heads'] > 0
    # The operation counts: a gradient step costs more than the
    # statistics-only passes, which have no backward.
    assert res['flops_plain'] > 0
    assert res['flop_ratio'] == pytest.approx(
        res['flops_ttt'] / res['flops_plain'], abs=0.001)
    if hook == 'NormStatsHook':
        assert 0 < res['flop_ratio'] < 1
    else:
        assert res['flop_ratio'] > 0


def test_profile_train_step_phases_and_ablation(tmp_path, capsys):
    """The profile of one training iteration: every branch's forward and
    losses are phases, the step without auxiliary heads is measured (not
    attributed) and the operator table is there."""
    relation = small_model_cfg()['aux_heads']
    cfg = write_config(tmp_path / 'tiny.py', relation, optim_wrapper=dict(
        type='OptimWrapper', optimizer=dict(type='SGD', lr=0.01)))
    tool = load_tool('analysis/profile_train_step')
    res = tool.main([cfg, '--batch-size', '2', '--height', '32',
                     '--width', '32', '--repeats', '1', '--top', '5',
                     '--device', 'cpu'])
    assert set(res['phases_s']) == {
        'preprocess', 'encoder', 'main.forward', 'relation.forward',
        'main.losses', 'relation.losses', 'backward', 'optimizer'}
    assert res['step_s'] > 0 and res['without_aux_heads_step_s'] > 0
    # the share comes from the unrounded times; the reported times are
    # rounded to 0.1 ms, which on a ~20 ms tiny step moves it by < 0.01
    assert res['aux_heads_share'] == pytest.approx(
        1 - res['without_aux_heads_step_s'] / res['step_s'], abs=1e-2)
    assert 1 <= len(res['top_ops']) <= 5
    assert 'relation.forward' in capsys.readouterr().out
    with pytest.raises(SystemExit):
        tool.main([cfg, '--repeats', '0'])
