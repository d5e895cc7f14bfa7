"""trttt_mm.benchmark.units: cache keys, unit folders, done.json."""
import json
import os.path as osp

import pytest

from trttt_mm.benchmark import units as U

CFG = dict(
    data=dict(root='data/x', seed=0, height=64, width=96, num_train=8,
              num_val=4, num_target_train=2, num_target_val=16,
              images_per_building=4, val_num_target_val=8),
    train=dict(iters=40, batch_size=8), test=dict(batch_size=8),
    cost=dict(repeats=2),
    sources=dict(plain=dict(config='configs/plain.py'),
                 stats=dict(config='configs/stats.py', from_source='plain'),
                 flow=dict(config='configs/flow.py',
                           finetune=dict(config='configs/flow2.py',
                                         iters=10))),
    methods=dict(A=dict(hook='TENTHook', source='plain',
                        overrides=dict(steps=2)),
                 B=dict(hook='ActMADHook', source='stats')))


def keys(work='/w'):
    k = U.UnitKeys(CFG, work)
    resolved = {p: dict(path=p, ttt=dict(TENTHook=dict(
        steps=1, optimizer=dict(lr=1e-3)))) for p in (
            'configs/plain.py', 'configs/stats.py', 'configs/flow.py',
            'configs/flow2.py')}
    k.config = resolved.__getitem__
    return k


def test_digest_is_pinned():
    """The digest of a key never changes between versions of the code
    (every cached unit of every work dir would be run again): pinned to
    the value of the first release."""
    k = dict(source='plain', config='configs/x.py',
             resolved='0123456789abcdef', train=dict(iters=40, batch_size=8),
             data=dict(seed=0, height=64), seed=0)
    assert U.digest(k) == 'f5986bf876a69cbf'
    assert U.BENCHMARK_VERSION == 1
    assert U.unit_digest(k) == 'cee534d959846372'
    # key order does not matter
    assert U.digest(dict(reversed(list(k.items())))) == U.digest(k)


def test_source_keys_and_folders():
    k = keys()
    plain = k.source_key('plain', 0)
    assert plain['train'] == CFG['train'] and plain['seed'] == 0
    assert plain['data']['height'] == 64 and 'format_version' in \
        plain['data']
    # a derived source depends on its parent's key, not on the budget
    stats = k.source_key('stats', 0)
    assert stats['parent'] == plain and 'train' not in stats
    # a second stage adds its config's resolved digest and its budget
    flow = k.source_key('flow', 1)
    assert flow['finetune']['iters'] == 10 and flow['finetune']['resolved']
    assert k.source_key('plain', 1) != plain
    assert k.source_dir('plain', 0) == osp.join(
        '/w', 'sources', f'plain_seed0_{U.digest(plain)[:8]}')
    assert k.source_configs('stats') == ['configs/stats.py',
                                         'configs/plain.py']
    assert k.source_configs('flow') == ['configs/flow.py', 'configs/flow2.py']


def test_keys_hold_no_paths_of_the_work_dir():
    """A work dir that is moved keeps its cache: no key holds its path."""
    a, b = keys('/somewhere/w'), keys('/elsewhere/w')
    for fa, fb in ((a.source_key('stats', 0), b.source_key('stats', 0)),
                   (a.method_key('A', 0, 'mixed'),
                    b.method_key('A', 0, 'mixed')),
                   (a.eval_key('plain', 0, None),
                    b.eval_key('plain', 0, None)),
                   (a.cost_key('A', 'cpu'), b.cost_key('A', 'cpu'))):
        assert fa == fb
        assert '/somewhere' not in json.dumps(fa)


def test_method_and_eval_keys():
    k = keys()
    m = k.method_key('A', 0, 'mixed')
    assert m['overrides'] == {'steps': 2} and m['which'] == 'test'
    grid = k.method_key('A', 0, 'mixed', {'optimizer': {'lr': 0.1}}, 'val')
    assert grid['overrides'] == {'steps': 2, 'optimizer': {'lr': 0.1}}
    assert grid['data']['num_target_val'] == 8  # the validation stream
    assert grid['data']['seed'] == 1000
    assert k.method_defaults('A') == {'steps': 2, 'optimizer': {'lr': 1e-3}}
    assert k.method_id('A', 0, 'mixed', 'val', 't') == 'val/mixed/A/seed0/t'
    assert k.method_id('A', 0, 'mixed') == 'test/mixed/A/seed0'
    assert k.eval_id('plain', 1, None) == 'eval/source_val/plain/seed1'
    assert k.eval_key('plain', 1, 'mixed')['family'] == 'mixed'
    assert k.cost_key('A', 'cpu')['size'] == [64, 96]
    assert k.num_images('val') == 8 and k.num_images() == 16


def test_done_json_round_trip_and_mismatch(tmp_path):
    key = dict(a=1)
    assert U.read_done(str(tmp_path), key) is None
    U.write_done(str(tmp_path), key, dict(id='x', status='done', v=2))
    assert U.read_done(str(tmp_path), key) == dict(id='x', status='done',
                                                   v=2)
    assert U.read_done(str(tmp_path), dict(a=2)) is None  # another key
    data = json.loads((tmp_path / 'done.json').read_text())
    assert data['key_data'] == dict(a=1, benchmark_version=1)
    # a truncated file is "not finished"
    (tmp_path / 'done.json').write_text('{"key": "cee5')
    assert U.read_done(str(tmp_path), key) is None


def test_write_json_is_atomic(tmp_path, monkeypatch):
    """A write that fails half way leaves the old file whole."""
    path = tmp_path / 'r.json'
    U.write_json(str(path), dict(old=True))

    class Boom(Exception):
        pass

    def bad_dump(*a, **k):
        a[1].write('{"half')
        raise Boom()

    monkeypatch.setattr(U.json, 'dump', bad_dump)
    with pytest.raises(Boom):
        U.write_json(str(path), dict(new=True))
    monkeypatch.undo()
    assert json.loads(path.read_text()) == dict(old=True)
    assert [p.name for p in tmp_path.iterdir()] == ['r.json']  # no tmp


@pytest.mark.parametrize('text', ['[1, 2]', '"done"', '3', 'null',
                                  '{"key": "KEY", "result": "done"}',
                                  '{"key": "KEY", "result": [1]}'])
def test_done_json_that_is_not_an_object_is_unfinished(tmp_path, text):
    """Issue 20, item 6: valid JSON of another shape is "not finished",
    like a truncated file (it used to abort the benchmark with an
    AttributeError)."""
    (tmp_path / 'done.json').write_text(
        text.replace('KEY', U.unit_digest(dict(a=1))))
    assert U.read_done(str(tmp_path), dict(a=1)) is None
