import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from trttt_mm.evaluation.delta_ttt import (delta_ttt, metric_direction,
                                           relative_change)

CLI = Path(__file__).resolve().parents[2] / 'tools' / 'analysis' / 'delta_ttt.py'

BASE = {'semseg/mIoU': 30.0, 'depth/rmse': 1.0, 'semseg/aAcc': 60.0}
ADAPTED = {'semseg/mIoU': 33.0, 'depth/rmse': 0.9, 'semseg/aAcc': 54.0}


def test_directions():
    assert metric_direction('semseg/mIoU') == 'higher'
    assert metric_direction('nyud/normal/11.25') == 'higher'
    assert metric_direction('depth/rmse_aligned') == 'lower'
    assert metric_direction('normal/mean_angle') == 'lower'
    with pytest.raises(ValueError, match='semseg/foo'):
        metric_direction('semseg/foo')


def test_relative_change_by_hand():
    assert relative_change(30, 33, 'semseg/mIoU') == pytest.approx(10.0)
    assert relative_change(1.0, 0.9, 'depth/rmse') == pytest.approx(10.0)
    assert relative_change(1.0, 1.2, 'depth/rmse') == pytest.approx(-20.0)


def test_delta_ttt_default_keys():
    out = delta_ttt(BASE, ADAPTED)
    assert list(out['per_task']) == ['semseg/mIoU', 'depth/rmse']
    assert out['per_task']['semseg/mIoU'] == pytest.approx(10.0)
    assert out['per_task']['depth/rmse'] == pytest.approx(10.0)
    assert out['delta_ttt'] == pytest.approx(10.0)
    # primary keys present in one dict only are left out
    assert list(delta_ttt(dict(BASE, **{'edge/rmse': 0.2}),
                          ADAPTED)['per_task']) == ['semseg/mIoU',
                                                    'depth/rmse']


def test_delta_ttt_explicit_keys():
    out = delta_ttt(BASE, ADAPTED, keys=['semseg/mIoU', 'semseg/aAcc'])
    assert out['delta_ttt'] == pytest.approx((10.0 - 10.0) / 2)


@pytest.mark.parametrize('base, adapted, keys, match', [
    (BASE, {'semseg/mIoU': 33.0}, ['depth/rmse'], 'depth/rmse'),
    ({'depth/rmse': 0.0}, {'depth/rmse': 0.5}, None, 'depth/rmse.*zero'),
    ({'semseg/foo': 1.0}, {'semseg/foo': 2.0}, ['semseg/foo'], 'semseg/foo'),
    ({'x/y': 1.0}, {'x/y': 2.0}, None, 'no primary'),
    ({'depth/rmse': 'a'}, {'depth/rmse': 0.5}, None, 'depth/rmse'),
])
def test_delta_ttt_errors(base, adapted, keys, match):
    with pytest.raises(ValueError, match=match):
        delta_ttt(base, adapted, keys=keys)


def run_cli(*args):
    """The tool as a separate process (once: the import costs seconds)."""
    return subprocess.run([sys.executable, str(CLI), *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def call_cli(capsys, *args):
    """The tool's ``main`` in this process: ``(returncode, stdout,
    stderr)``."""
    spec = importlib.util.spec_from_file_location('delta_ttt_cli', CLI)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    capsys.readouterr()
    rc = mod.main([str(a) for a in args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_cli(tmp_path, capsys):
    base, adapted = tmp_path / 'base.json', tmp_path / 'adapted.json'
    base.write_text(json.dumps(BASE))
    adapted.write_text(json.dumps({'metrics': ADAPTED}))  # tolerated wrapper
    proc = run_cli(base, adapted, '--json')
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out['delta_ttt'] == pytest.approx(10.0)
    assert out['per_task']['depth/rmse'] == pytest.approx(10.0)

    rc, out, err = call_cli(capsys, base, adapted, '--keys', 'semseg/aAcc')
    assert rc == 0, err
    assert 'semseg/aAcc' in out and '-10.00' in out

    rc, out, err = call_cli(capsys, base, adapted, '--keys', 'edge/rmse',
                            '--json')
    assert rc != 0 and out == ''
    assert 'edge/rmse' in err

    (tmp_path / 'bad.json').write_text('{not json')
    rc, out, err = call_cli(capsys, tmp_path / 'bad.json', adapted)
    assert rc != 0 and 'bad.json' in err
    rc, out, err = call_cli(capsys, tmp_path / 'missing.json', adapted)
    assert rc != 0 and 'missing.json' in err
