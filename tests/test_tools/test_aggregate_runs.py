import json
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
TOOL = osp.join(ROOT, 'tools', 'analysis', 'aggregate_runs.py')


def write_run(d, miou_base, miou_ttt, delta):
    d.mkdir()
    s = dict(source={'semseg/mIoU': 70.0}, target={'semseg/mIoU': miou_base},
             trttt={'semseg/mIoU': miou_ttt},
             shift_drop=dict(delta_ttt=-90.0, per_task={}),
             delta_ttt=dict(delta_ttt=delta,
                            per_task={'semseg/mIoU': delta}))
    (d / 'summary.json').write_text(json.dumps(s))
    return str(d)


def test_mean_and_std_over_runs(tmp_path):
    runs = [write_run(tmp_path / 'a', 6.0, 12.0, 100.0),
            write_run(tmp_path / 'b', 8.0, 12.0, 50.0)]
    res = subprocess.run([sys.executable, TOOL, *runs], capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr
    assert '| semseg/mIoU | 70 ± 0 | 7 ± 1.4 | 12 ± 0 |' in res.stdout
    assert 'Δ_TTT (TR-TTT vs Base): 75 ± 35 %' in res.stdout


def test_missing_summary_is_reported(tmp_path):
    res = subprocess.run([sys.executable, TOOL, str(tmp_path)],
                         capture_output=True, text=True)
    assert res.returncode != 0
    assert 'summary.json' in res.stderr


def run_tool(*runs):
    return subprocess.run([sys.executable, TOOL, *map(str, runs)],
                          capture_output=True, text=True)


def edit_summary(run, fn):
    path = osp.join(run, 'summary.json')
    s = json.load(open(path))
    fn(s)
    with open(path, 'w') as f:
        json.dump(s, f)


def test_nan_names_the_run_and_the_key(tmp_path):
    runs = [write_run(tmp_path / 'a', 6.0, 12.0, 100.0),
            write_run(tmp_path / 'b', 8.0, 12.0, 50.0)]
    edit_summary(runs[1], lambda s: s['trttt'].update(
        {'semseg/mIoU': float('nan')}))
    res = run_tool(*runs)
    assert res.returncode != 0
    assert 'Traceback' not in res.stderr
    assert osp.join(runs[1], 'summary.json') in res.stderr
    assert "['trttt']['semseg/mIoU'] is nan" in res.stderr


@pytest.mark.parametrize('drop,expected', [
    (lambda s: s.pop('shift_drop'), "no 'shift_drop' section"),
    (lambda s: s['delta_ttt'].pop('per_task'),
     "no 'per_task' in ['delta_ttt']"),
    (lambda s: s['shift_drop'].pop('delta_ttt'),
     "no 'delta_ttt' in ['shift_drop']"),
    (lambda s: s['delta_ttt'].update(delta_ttt='big'),
     "['delta_ttt']['delta_ttt'] is 'big', expected a number"),
    (lambda s: s.update(trttt=[1]), "'trttt' is a list"),
])
def test_missing_or_bad_keys_name_the_run_and_the_key(tmp_path, drop,
                                                       expected):
    runs = [write_run(tmp_path / 'a', 6.0, 12.0, 100.0),
            write_run(tmp_path / 'b', 8.0, 12.0, 50.0)]
    edit_summary(runs[0], drop)
    res = run_tool(*runs)
    assert res.returncode != 0 and 'Traceback' not in res.stderr
    assert osp.join(runs[0], 'summary.json') in res.stderr
    assert expected in res.stderr


def test_a_metric_missing_from_one_run_is_named_not_dropped(tmp_path):
    runs = [write_run(tmp_path / 'a', 6.0, 12.0, 100.0),
            write_run(tmp_path / 'b', 8.0, 12.0, 50.0)]

    def add_depth(s, target=True):
        for part in ('source', 'trttt') + (('target', ) if target else ()):
            s[part]['depth/rmse'] = 1.0
        s['delta_ttt']['per_task']['depth/rmse'] = 0.0

    edit_summary(runs[0], add_depth)
    edit_summary(runs[1], lambda s: add_depth(s, target=False))
    res = run_tool(*runs)
    assert res.returncode == 0, res.stderr
    assert '| semseg/mIoU |' in res.stdout
    assert '| depth/rmse |' not in res.stdout  # not in every run ...
    # ... and the output says so, naming where it is missing
    assert ('not in every run: depth/rmse: left out, missing from target '
            f'of {runs[1]}') in res.stdout
    # no metric in every run: an error, not an empty table
    edit_summary(runs[1], lambda s: s['target'].pop('semseg/mIoU'))
    res = run_tool(*runs)
    assert res.returncode != 0 and 'no primary metric' in res.stderr
    assert f'semseg/mIoU: left out, missing from target of {runs[1]}' \
        in res.stderr
