"""trttt_mm.benchmark.cli: the command line (arguments, refusals that must
leave nothing behind)."""
import os.path as osp

import pytest

from trttt_mm.benchmark import cli
from trttt_mm.benchmark.units import ROOT

CONFIG = osp.join(ROOT, 'configs', 'benchmark', 'synth.py')


def test_every_set_applies():
    """Issue 20, item 3: --set given twice keeps both (and several values
    after one --set)."""
    args = cli.parse_args([CONFIG, '--set', 'train.iters=3', '--set',
                           'test.batch_size=2', 'data.seed=5'])
    assert args.set == ['train.iters=3', 'test.batch_size=2', 'data.seed=5']
    assert cli.parse_args([CONFIG]).set == []


def test_report_only_without_results_creates_nothing(tmp_path, capsys):
    """Issue 20, item 7: --report-only on a work dir without results exits
    non-zero with the reason and creates no folder."""
    work = tmp_path / 'none'
    with pytest.raises(SystemExit) as e:
        cli.main([CONFIG, '--quick', '--report-only', '--work-dir',
                  str(work)])
    assert e.value.code != 0
    assert 'no results.json' in str(e.value) and str(work) in str(e.value)
    assert not work.exists()


def test_nothing_to_benchmark_creates_nothing(tmp_path):
    """Issue 20, item 7: a run whose every method is unavailable exits
    non-zero naming them, before data, sources or the work dir."""
    cfg = tmp_path / 'c.py'
    cfg.write_text(
        f"_base_ = ['{CONFIG}']\n"
        "methods = dict(Ghost=dict(hook='NoSuchTTTHook', source='plain'))\n")
    work, data = tmp_path / 'work', tmp_path / 'data'
    with pytest.raises(SystemExit) as e:
        cli.main([str(cfg), '--quick', '--methods', 'Ghost', '--work-dir',
                  str(work), '--set', f'data.root={data}'])
    assert e.value.code != 0
    msg = str(e.value)
    assert 'nothing to benchmark' in msg and 'Ghost' in msg
    assert 'NoSuchTTTHook' in msg
    assert not work.exists() and not data.exists()


def test_misspelled_set_key_runs_nothing(tmp_path):
    """Issue 20, item 4: --set with an unknown key stops before anything
    is created."""
    work = tmp_path / 'w'
    with pytest.raises(SystemExit, match='did you mean `cost.enabled`'):
        cli.main([CONFIG, '--quick', '--work-dir', str(work), '--set',
                  'cost.enabeld=true'])
    assert not work.exists()
