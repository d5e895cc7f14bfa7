import json
import subprocess
import sys
import os.path as osp

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
