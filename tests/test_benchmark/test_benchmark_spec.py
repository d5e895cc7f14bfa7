"""trttt_mm.benchmark.spec: the benchmark config."""
import os.path as osp

import pytest

from trttt_mm.benchmark.spec import load_benchmark_config, parse_set_options
from trttt_mm.benchmark.units import ROOT

CONFIG = osp.join(ROOT, 'configs', 'benchmark', 'synth.py')


def test_synth_config_quick_and_options():
    cfg = load_benchmark_config(CONFIG)
    assert cfg['families'] == ['appearance', 'geometry', 'content', 'mixed']
    assert len(cfg['seeds']) == 3
    quick = load_benchmark_config(CONFIG, quick=True)
    assert quick['seeds'] == [0] and len(quick['families']) == 1
    assert quick['train']['iters'] < cfg['train']['iters']
    # --quick merges: the second stage keeps its config
    assert quick['sources']['tttflow']['finetune']['config'] == \
        cfg['sources']['tttflow']['finetune']['config']
    assert load_benchmark_config(
        CONFIG, options={'train.iters': 7})['train']['iters'] == 7
    # defaults
    assert cfg['best_step']['min_fraction'] == 0.25
    # six decades around each method's default (issue 16, item 2)
    assert cfg['hparam_selection']['lr_factors'] == [1e-2, 1.0, 1e2, 1e4]


def test_bad_configs_are_named(tmp_path):
    bad = tmp_path / 'bad.py'
    bad.write_text("families = ['mixed']\nseeds = [0]\n")
    with pytest.raises(SystemExit, match=r"missing key\(s\)"):
        load_benchmark_config(str(bad))
    bad.write_text(
        f"_base_ = ['{CONFIG}']\n"
        "methods = dict(X=dict(hook='TENTHook', source='nowhere'))\n")
    with pytest.raises(SystemExit, match="methods.X.source 'nowhere'"):
        load_benchmark_config(str(bad))
    bad.write_text(
        f"_base_ = ['{CONFIG}']\n"
        "sources = dict(a=dict(config='x.py', from_source='actmad'))\n")
    with pytest.raises(SystemExit, match='must name a trained source'):
        load_benchmark_config(str(bad))
    with pytest.raises(SystemExit, match='not found'):
        load_benchmark_config(str(tmp_path / 'none.py'))
    bad.write_text("families = ['mixed']\nseeds = [0]\n")
    with pytest.raises(SystemExit, match='--quick needs a `quick` dict'):
        load_benchmark_config(str(bad), quick=True)
    bad.write_text(f"_base_ = ['{CONFIG}']\nquick = None\n")
    with pytest.raises(SystemExit, match='`quick` must be a dict, got None'):
        load_benchmark_config(str(bad), quick=True)


def test_set_options_parse_json_values():
    assert parse_set_options(['train.iters=3', 'data.root=/x/y',
                              'eval_source_val=false', 'a.b=[1, 2]']) == {
        'train.iters': 3, 'data.root': '/x/y', 'eval_source_val': False,
        'a.b': [1, 2]}
    with pytest.raises(SystemExit, match="expected KEY=VALUE"):
        parse_set_options(['train.iters'])


# ------------------------------------------------ issue 20, item 4: schema
def test_misspelled_keys_are_named_with_the_nearest_one(tmp_path):
    """A misspelled key of the config file or of --set is refused at load,
    before anything runs, naming the key and the nearest valid one."""
    bad = tmp_path / 'bad.py'
    for text, key, near in (
            ('train = dict(itres=2)', 'train.itres', 'train.iters'),
            ('eval_source_vall = False', 'eval_source_vall',
             'eval_source_val'),
            ("sources = dict(plain=dict(confg='x.py'))",
             'sources.plain.confg', 'sources.plain.config'),
            ("methods = dict(TRTTT=dict(overides=dict(steps=1)))",
             'methods.TRTTT.overides', 'methods.TRTTT.overrides'),
            ('quick = dict(train=dict(iter=3))', 'quick.train.iter',
             'quick.train.iters'),
            ("executor = dict(slurm=dict(partion='gpu'))",
             'executor.slurm.partion', 'executor.slurm.partition')):
        bad.write_text(f"_base_ = ['{CONFIG}']\n{text}\n")
        with pytest.raises(SystemExit) as e:
            load_benchmark_config(str(bad))
        msg = str(e.value)
        assert str(bad) in msg and f'`{key}`' in msg, msg
        assert f'did you mean `{near}`' in msg, msg
    with pytest.raises(SystemExit) as e:
        load_benchmark_config(CONFIG, options={'cost.enabeld': True})
    assert '--set cost.enabeld' in str(e.value)
    assert 'did you mean `cost.enabled`' in str(e.value)
    # a key with no near name lists the known ones
    with pytest.raises(SystemExit, match=r'known keys of `test`: '
                       r'batch_size'):
        load_benchmark_config(CONFIG, options={'test.zzz': 1})
    # a value of the wrong kind
    with pytest.raises(SystemExit, match=r'`train.iters` must be int, got '
                       r"'many' \(str\)"):
        load_benchmark_config(CONFIG, options={'train.iters': 'many'})
    with pytest.raises(SystemExit, match=r'`cost.enabled` must be bool'):
        load_benchmark_config(CONFIG, options={'cost.enabled': 1})
    # free-form parts stay free: hook overrides, grids, new method labels
    cfg = load_benchmark_config(CONFIG, options={
        'methods.TRTTT.overrides.optimizer.lr': 1e-3,
        'methods.New': dict(hook='TENTHook', source='plain'),
        'methods.TENT.grid': {'optimizer.lr': [1e-4]}})
    assert cfg['methods']['TRTTT']['overrides']['optimizer']['lr'] == 1e-3
    assert 'New' in cfg['methods']
