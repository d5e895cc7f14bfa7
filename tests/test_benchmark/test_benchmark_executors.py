"""trttt_mm.benchmark.executors: the executor interface, units finishing
out of order."""
import sys
import time

import pytest

from trttt_mm.benchmark.executors import LocalExecutor
from trttt_mm.benchmark.steps import UnitSpec


def cost_unit(tmp_path, name, sleep, value):
    """A cost unit whose command sleeps, then prints its JSON result."""
    work = tmp_path / name
    info = dict(kind='cost', method=name)
    code = (f'import time, json; time.sleep({sleep}); '
            f'print(json.dumps({{"v": {value}, "t": time.time()}}))')
    return UnitSpec(f'cost/{name}', 'cost', dict(name=name), str(work), info,
                    dict(info=info, log=str(work / 'cost.log'),
                         cmd=[sys.executable, '-c', code]))


def test_local_executor_reports_each_unit_as_it_finishes(tmp_path):
    specs = [cost_unit(tmp_path, 'slow', 1.5, 1),
             cost_unit(tmp_path, 'fast', 0.0, 2)]
    seen = []
    LocalExecutor(2, 'cpu', 1).run(
        specs, lambda s, r: seen.append((s.rid, r['micro']['v'])))
    # both ran at once: the fast one finished (and was reported) first
    assert seen == [('cost/fast', 2), ('cost/slow', 1)]


def test_local_executor_parallel_one_runs_them_alone(tmp_path):
    specs = [cost_unit(tmp_path, f'u{i}', 0.3, i) for i in range(2)]
    recs = {}
    t0 = time.time()
    LocalExecutor(2, 'cpu', 1).run(specs, lambda s, r: recs.update(
        {s.rid: r}), parallel=1)
    # one after the other: the second started after the first ended
    a, b = recs['cost/u0']['micro']['t'], recs['cost/u1']['micro']['t']
    assert abs(a - b) >= 0.3 - 0.05 and time.time() - t0 >= 0.6
    LocalExecutor(1, 'cpu', 1).run([], lambda s, r: pytest.fail())
    with pytest.raises(ValueError, match='jobs must be >= 1'):
        LocalExecutor(0, 'cpu', 1)
