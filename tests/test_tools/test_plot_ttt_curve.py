"""tools/analysis/plot_ttt_curve.py: bad curves and bad --out paths are
named before anything is drawn; a good curve is drawn."""
import json
import os

import pytest

from tool_helpers import load_tool

GOOD = dict(
    method='TRTTTHook', steps_per_batch=[2, 2], loss=[[1.0, 0.9], [0.8, 0.7]],
    metrics=[{'semseg/mIoU': 10.0, 'depth/rmse': 1.2},
             {'semseg/mIoU': 12.0, 'depth/rmse': 1.1}],
    base_metrics=[{'semseg/mIoU': 9.0, 'depth/rmse': 1.3},
                  {'semseg/mIoU': 9.5, 'depth/rmse': 1.3}],
    delta_ttt=[None, 12.5])


@pytest.fixture(scope='module')
def plot():
    return load_tool('analysis/plot_ttt_curve')


def write(path, obj):
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return str(path)


@pytest.mark.parametrize('content,message', [
    (3, 'holds a JSON int; expected a ttt_curve.json'),
    ([1, 2], 'holds a JSON list; expected a ttt_curve.json'),
    (dict(steps=[1]), 'no "metrics" key'),
    (dict(metrics=[1, 2]),
     r'metrics\[0\] is 1 \(JSON int\); expected an object of metric'),
    (dict(metrics=['a']), r'metrics\[0\] is "a" \(JSON str\)'),
    (dict(metrics={'semseg/mIoU': 1}), '"metrics" is a dict; expected a list'),
    (dict(metrics=[{'semseg/mIoU': 'high'}]),
     r'metrics\[0\]\["semseg/mIoU"\] is .high.; expected a number'),
    (dict(metrics=[]), 'no per-batch metrics recorded'),
    (dict(metrics=[{'loss': 1.0}]), 'none of the primary metrics'),
    (dict(GOOD, base_metrics=GOOD['base_metrics'][:1]),
     '"base_metrics" has 1 entries and "metrics" 2'),
    (dict(GOOD, base_metrics=[3, 4]), r'base_metrics\[0\] is 3'),
    (dict(GOOD, delta_ttt='12'), '"delta_ttt" must be a list of numbers'),
    (dict(GOOD, delta_ttt=[1, 2, 3]), '"delta_ttt" has 3 entries'),
    ('{"metrics": [', 'cannot read a ttt_curve.json'),
])
def test_bad_curves_are_named(plot, tmp_path, content, message):
    curve = write(tmp_path / 'curve.json', content)
    out = tmp_path / 'fig.png'
    with pytest.raises(SystemExit, match=message) as err:
        plot.main([curve, '--out', str(out)])
    assert str(curve) in str(err.value)
    assert not out.exists()


def test_out_is_checked_before_drawing(plot, tmp_path):
    curve = write(tmp_path / 'curve.json', GOOD)
    before = (tmp_path / 'curve.json').read_bytes()
    # --out = the input: refused, the input is untouched
    with pytest.raises(SystemExit, match='is the input curve'):
        plot.main([curve, '--out', curve])
    # the same file through another path (a link) is refused too
    os.symlink(curve, tmp_path / 'link.png')
    with pytest.raises(SystemExit, match='is the input curve'):
        plot.main([curve, '--out', str(tmp_path / 'link.png')])
    assert (tmp_path / 'curve.json').read_bytes() == before
    missing = tmp_path / 'no' / 'such' / 'fig.png'
    with pytest.raises(SystemExit, match='does not exist'):
        plot.main([curve, '--out', str(missing)])
    with pytest.raises(SystemExit, match='is a folder'):
        plot.main([curve, '--out', str(tmp_path)])
    with pytest.raises(SystemExit, match="unknown image format 'pmg'"):
        plot.main([curve, '--out', str(tmp_path / 'fig.pmg')])
    with pytest.raises(SystemExit, match='1 label.s. for 2 curve'):
        plot.main([curve, curve, '--labels', 'a', '--out',
                   str(tmp_path / 'f.png')])
    assert not missing.parent.exists()


def test_a_good_curve_is_drawn(plot, tmp_path):
    curve = write(tmp_path / 'curve.json', GOOD)
    # a NaN metric (a diverged batch) and a missing base are drawn, not errors
    other = write(tmp_path / 'other.json',
                  dict(metrics=[{'semseg/mIoU': float('nan')},
                                {'semseg/mIoU': 3.0}]))
    out = tmp_path / 'fig.png'
    assert plot.main([curve, other, '--out', str(out)]) == 0
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
