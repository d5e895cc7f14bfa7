"""trttt_mm.benchmark.store: results.json across invocations."""
import json

import pytest

from trttt_mm.benchmark.store import ResultsStore
from trttt_mm.benchmark.units import write_json


def test_results_json_keeps_runs_of_earlier_invocations(tmp_path):
    """A later invocation (e.g. another seed) adds its runs to results.json;
    the runs of earlier ones stay, and a run it repeats replaces the old."""
    earlier = [dict(id='test/mixed/TRTTT/seed0', status='done',
                    delta_ttt=1.0),
               dict(id='test/mixed/TENT/seed0', status='done',
                    delta_ttt=2.0)]
    write_json(str(tmp_path / 'results.json'), dict(runs=earlier))
    store = ResultsStore(str(tmp_path))
    store.record('test/mixed/TRTTT/seed2', dict(
        id='test/mixed/TRTTT/seed2', status='done', delta_ttt=3.0))
    store.record('test/mixed/TENT/seed0', dict(
        id='test/mixed/TENT/seed0', status='done', delta_ttt=4.0))
    store.write(dict(config='c.py'), {}, [])
    data = json.loads((tmp_path / 'results.json').read_text())
    assert [(r['id'], r['delta_ttt']) for r in data['runs']] == [
        ('test/mixed/TENT/seed0', 4.0), ('test/mixed/TRTTT/seed0', 1.0),
        ('test/mixed/TRTTT/seed2', 3.0)]
    assert data['benchmark'] == dict(config='c.py')
    # --report-only reads them all
    again = ResultsStore(str(tmp_path))
    assert again.load() is not None
    assert set(again.results) == {r['id'] for r in data['runs']}
    assert ResultsStore(str(tmp_path / 'none')).load() is None


def _unit(tmp_path, rel, rid, key):
    from trttt_mm.benchmark.units import write_done
    rec = dict(id=rid, status='done', delta_ttt=1.0)
    write_done(str(tmp_path / rel), key, rec)
    return rec


@pytest.mark.parametrize('damage', ['cut', 'list', 'no_runs'])
def test_a_damaged_results_json_is_rebuilt_not_dropped(tmp_path, capsys,
                                                       damage):
    """Issue 20, item 2: a results.json cut in half (or of another shape)
    is not silently replaced: it is kept aside, rebuilt from the units' own
    done.json files, and said so; the runs of earlier invocations stay."""
    a = _unit(tmp_path, 'test/mixed/A/seed0', 'test/mixed/A/seed0', {'a': 1})
    b = _unit(tmp_path, 'sources/plain_seed0_x', 'source/plain/seed0',
              {'b': 1})
    store = ResultsStore(str(tmp_path))
    store.record(a['id'], a)
    store.record(b['id'], b)
    store.write({}, {}, [])
    text = (tmp_path / 'results.json').read_text()
    bad = dict(cut=text[:len(text) // 2], list='[1, 2]',
               no_runs='{"runs": 3}')[damage]
    (tmp_path / 'results.json').write_text(bad)
    later = ResultsStore(str(tmp_path))
    later.record('cost/A', dict(id='cost/A', status='done'))
    later.write({}, {}, [])
    out = capsys.readouterr().out
    assert 'could not be read' in out and 'rebuilt from 2' in out
    ids = [r['id'] for r in json.loads(
        (tmp_path / 'results.json').read_text())['runs']]
    assert ids == ['cost/A', 'source/plain/seed0', 'test/mixed/A/seed0']
    kept = list(tmp_path.glob('results.json.corrupt-*'))
    assert len(kept) == 1 and kept[0].read_text() == bad
    # --report-only rebuilds too
    (tmp_path / 'results.json').write_text(bad)
    again = ResultsStore(str(tmp_path))
    assert again.load() is not None
    assert set(again.results) == {'source/plain/seed0',
                                  'test/mixed/A/seed0'}
