"""tools/analysis/gpu_paper_scale.py: every registered hook has a paper-scale
model, the run's changes to the hooks' defaults are the stated ones, bad
arguments are named, the table shows errors and hooks not run, and the CPU
smoke run (two hooks, tiny images) measures every row."""
import json
import os.path as osp

import pytest
from mmengine.config import Config

from tool_helpers import ROOT, load_tool

tool = load_tool('analysis/gpu_paper_scale')


def test_every_registered_hook_has_a_paper_scale_model():
    import trttt_mm  # noqa: F401
    from mmseg.registry import HOOKS
    from trttt_mm.engine.hooks import ttt_hook_names
    # the project's hooks (other tests register fault-injecting ones)
    names = [n for n in ttt_hook_names()
             if HOOKS.module_dict[n].__module__.startswith('trttt_mm.')]
    assert tool.select_hooks(None, names) == [
        h for h in tool.HOOK_CONFIGS if h in names]
    assert set(names) <= set(tool.HOOK_CONFIGS)
    for config, _ in tool.HOOK_CONFIGS.values():
        assert osp.isfile(osp.join(ROOT, config)), config


def test_select_hooks_names_what_it_cannot_run():
    registered = ['TENTHook', 'TRTTTHook', 'NewHook']
    with pytest.raises(tool.ToolError, match=r"HOOK_CONFIGS: \['NewHook'\]"):
        tool.select_hooks(None, registered)
    # a subset that leaves the unmapped hook out runs, in the table's order
    assert tool.select_hooks(['TENTHook', 'TRTTTHook'], registered) == [
        'TRTTTHook', 'TENTHook']
    with pytest.raises(tool.ToolError, match=r"\['Nope'\] are not registered"):
        tool.select_hooks(['Nope'], registered)
    with pytest.raises(tool.ToolError, match='no paper-scale model'):
        tool.select_hooks(['NewHook'], registered)


def test_hook_overrides():
    import trttt_mm  # noqa: F401
    cfg = Config(dict(ttt=dict(
        TRTTTHook=dict(steps=40, reset='single_batch'),
        TENTHook=dict(steps=1, reset='online'))))
    assert tool.hook_overrides(cfg, 'TRTTTHook', 3) == dict(
        steps=3, reset='online')
    assert tool.hook_overrides(cfg, 'TENTHook', 2) == dict(steps=2)
    assert tool.hook_overrides(cfg, 'NormStatsHook', 2) == dict(passes=2)


@pytest.mark.parametrize('args, message', [
    (['--steps', '0'], '--steps must be >= 1'),
    (['--batches', '0'], '--batches must be >= 1'),
    (['--height', '0'], '--height must be >= 1'),
    (['--time-limit', '0'], '--time-limit must be > 0'),
    (['--device', 'tpu'], "--device must be 'cpu' or 'cuda[:i]'"),
])
def test_bad_arguments_are_named(capsys, args, message):
    assert tool.main(args) == 1
    assert message in capsys.readouterr().err


def test_out_dir_that_is_a_file(tmp_path, capsys):
    f = tmp_path / 'f'
    f.write_text('')
    assert tool.main(['--device', 'cpu', '--out-dir', str(f)]) == 1
    assert 'is a file' in capsys.readouterr().err


def test_markdown_table():
    row = dict(hook='TENTHook', amp='off', plain_fwd_bwd_s=0.1,
               hook_step_s=0.125, hook_ratio=1.25, objective_step_s=0.11,
               objective_ratio=1.1, peak_mib_plain=1000.0,
               peak_mib_objective=1100.0, peak_mib_hook=1200.4,
               nonfinite_skips=0)
    result = dict(
        meta=dict(device='cuda', device_name='GPU', batch=[8, 3, 448, 576],
                  steps=2, batches=3, repeats=5, commit='abc',
                  torch='2.x'),
        rows=[row, dict(row, amp='bf16', nonfinite_skips=2),
              dict(hook='TIPIHook', amp='bf16',
                   error='RuntimeError: no bf16 | kernel')],
        not_run=['NCTTTHook'])
    md = tool.markdown(result).splitlines()
    assert '| TENTHook | off | 100.0 | 125.0 | 1.25x | 110.0 | 1.10x | ' \
        '1000 / 1100 / 1200 |  |' in md
    assert any(line.startswith('| TENTHook | bf16 |') and line.endswith(
        '| 2 non-finite skips (rolled back: the hook step is understated) |')
        for line in md)
    assert any(line.startswith('| TIPIHook | bf16 |')
               and 'no bf16 / kernel' in line for line in md)
    assert '| NCTTTHook | | | | | | | | not run (time limit) |' in md
    assert 'allocated' in md[4]


@pytest.mark.slow
def test_cpu_smoke_run(tmp_path, capsys):
    out = tmp_path / 'out'
    rc = tool.main(['--device', 'cpu', '--height', '32', '--width', '32',
                    '--batch-size', '2', '--steps', '1', '--batches', '1',
                    '--repeats', '1', '--hooks', 'TENTHook', 'TRTTTHook',
                    '--out-dir', str(out)])
    printed = capsys.readouterr().out
    assert rc == 0
    res = json.loads((out / 'gpu_paper_scale.json').read_text())
    assert res['meta']['batch'] == [2, 3, 32, 32]
    rows = res['rows']
    assert [(r['hook'], r['amp']) for r in rows] == [
        ('TRTTTHook', 'off'), ('TRTTTHook', 'bf16'), ('TENTHook', 'off'),
        ('TENTHook', 'bf16')]
    for r in rows:
        assert 'error' not in r, r
        assert r['plain_fwd_bwd_s'] > 0 and r['hook_step_s'] > 0
        assert r['hook_ratio'] == pytest.approx(
            r['hook_step_s'] / r['plain_fwd_bwd_s'], rel=0.02)
        assert r['nonfinite_skips'] == 0
    assert rows[0]['overrides'] == dict(steps=1)
    assert rows[0]['model'] == 'configs/trttt/t2n.py'
    assert rows[2]['model'] == 'configs/trttt/t2n.py without aux heads'
    md = (out / 'gpu_paper_scale.md').read_text()
    assert md in printed
    assert md.count('| TENTHook |') == 2
