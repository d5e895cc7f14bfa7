"""trttt_mm.benchmark.trees: nested dicts and --cfg-options values."""
from trttt_mm.benchmark import trees as T


def test_merge_flatten_nested_dotted():
    base = dict(a=dict(b=1, c=[1]), d=2)
    out = T.merge(base, dict(a=dict(b=3), e=4))
    assert out == dict(a=dict(b=3, c=[1]), d=2, e=4)
    assert base == dict(a=dict(b=1, c=[1]), d=2)  # inputs unchanged
    out['a']['c'].append(2)
    assert base['a']['c'] == [1]  # a deep copy
    assert T.flatten({'optimizer': {'lr': 1}, 'steps': 2}) == {
        'optimizer.lr': 1, 'steps': 2}
    assert T.nested({'optimizer.lr': 0.1, 'steps': 2}) == {
        'optimizer': {'lr': 0.1}, 'steps': 2}
    assert T.get_dotted({'a': {'b': 5}}, 'a.b') == 5
    assert T.get_dotted({'a': {'b': 5}}, 'a.c') is None
    assert T.get_dotted({'a': 1}, 'a.b') is None
    d = {}
    T.set_dotted(d, 'x.y.z', 1)
    assert d == {'x': {'y': {'z': 1}}}


def test_cfg_value_round_trips_through_cfg_options():
    from mmengine.config import DictAction
    assert T.cfg_value(2e-05) == '2e-05' and T.cfg_value(True) == 'True'
    assert T.cfg_value(None) == 'None' and T.cfg_value(3) == '3'
    assert T.cfg_value([1, 2.5]) == '[1,2.5]'
    assert T.cfg_value((0.9, 0.999)) == '(0.9,0.999,)'
    for v in (2e-05, True, None, 3, [1, 2.5], (0.9, 0.999), 'ema'):
        assert DictAction._parse_iterable(T.cfg_value(v)) == v
