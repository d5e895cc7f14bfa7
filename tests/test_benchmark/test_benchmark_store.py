"""trttt_mm.benchmark.store: results.json across invocations."""
import json

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
