"""trttt_mm.benchmark.runner: units cached, blocked or run through an
executor; results merged in whatever order units finish; the selection
stage (an executor that makes up the records stands in for the tools)."""
import json
import os.path as osp

import pytest

from test_benchmark_executors import cost_unit

from trttt_mm.benchmark.executors import UnitExecutor
from trttt_mm.benchmark.runner import Benchmark
from trttt_mm.benchmark.spec import load_benchmark_config
from trttt_mm.benchmark.steps import execute_unit
from trttt_mm.benchmark.units import ROOT, write_done

CONFIG = osp.join(ROOT, 'configs', 'benchmark', 'synth.py')


class ReversedExecutor(UnitExecutor):
    """Runs the units for real, and reports them last one first."""
    name = 'reversed'

    def __init__(self):
        super().__init__('cpu', 1)
        self.ran = []

    def run(self, specs, on_done, parallel=None):
        recs = [(s, execute_unit(s)) for s in specs]
        self.ran += [s.rid for s in specs]
        for s, r in reversed(recs):
            on_done(s, r)


class MadeUpExecutor(UnitExecutor):
    """Makes up each unit's record with ``fn(spec)`` (and its done.json)."""
    name = 'made-up'

    def __init__(self, fn):
        super().__init__('cpu', 1)
        self.fn, self.ran = fn, []

    def run(self, specs, on_done, parallel=None):
        for s in specs:
            self.ran.append(s.rid)
            rec = dict(s.meta, id=s.rid, status='done', **self.fn(s))
            write_done(s.work, s.key, rec)
            on_done(s, rec)


def test_out_of_order_units_merge_and_resume(tmp_path):
    cfg = load_benchmark_config(CONFIG, quick=True)
    ex = ReversedExecutor()
    b = Benchmark(cfg, CONFIG, str(tmp_path), 1, 1, False, False, 'cpu',
                  executor=ex)
    specs = [cost_unit(tmp_path, n, 0, i) for i, n in enumerate('abc')]
    b.counter = [0, 3]
    b.run_units(specs)
    data = json.loads((tmp_path / 'results.json').read_text())
    assert [r['id'] for r in data['runs']] == ['cost/a', 'cost/b', 'cost/c']
    assert [r['micro']['v'] for r in data['runs']] == [0, 1, 2]
    # a new invocation: every unit is cached, nothing runs
    ex2 = ReversedExecutor()
    b2 = Benchmark(cfg, CONFIG, str(tmp_path), 1, 1, False, False, 'cpu',
                   executor=ex2)
    b2.run_units(specs)
    assert ex2.ran == [] and set(b2.results) == {'cost/a', 'cost/b',
                                                 'cost/c'}


def test_blocked_units_fail_without_running(tmp_path):
    cfg = load_benchmark_config(CONFIG, quick=True)
    ex = ReversedExecutor()
    b = Benchmark(cfg, CONFIG, str(tmp_path), 1, 1, False, False, 'cpu',
                  executor=ex)
    spec = b.method_spec('TRTTT', 0, 'mixed')
    assert spec.payload['blocked'] == 'source trttt seed 0 not trained'
    b.run_units([spec, b.eval_spec('plain', 0, None),
                 b.source_spec('actmad', 0)])
    assert ex.ran == []
    assert {r['status'] for r in b.results.values()} == {'failed'}
    assert 'parent source plain (seed 0) is not trained' in b.results[
        'source/actmad/seed0']['error']


def test_selection_stage_reuses_default_runs(tmp_path):
    """NormStats' default momentum is best on the validation target: its
    test runs are reused; TR-TTT's largest learning rate is best: it runs on the
    test target for every seed."""
    cfg = load_benchmark_config(CONFIG, quick=True)
    top = max(cfg['hparam_selection']['lr_factors'])

    def made_up(spec):
        over = spec.payload['overrides']
        if spec.rid.startswith('val/'):
            if 'momentum' in over:  # NormStats: the default 0.1 is best
                d = -abs(over['momentum'] - 0.1)
            else:  # TR-TTT: the largest lr, with its default steps
                d = over['optimizer']['lr'] * 1e4 + over['steps'] / 100
            return dict(delta_ttt=d)
        return dict(delta_ttt=5.0, overrides=over)

    ex = MadeUpExecutor(made_up)
    b = Benchmark(cfg, CONFIG, str(tmp_path), 1, 1, True, False, 'cpu',
                  executor=ex)
    for s in ('plain', 'trttt'):
        for seed in (0, 1):
            rid = f'source/{s}/seed{seed}'
            b.record(rid, dict(id=rid, status='done', checkpoint='x.pth'))
    for seed in (0, 1):
        b.record(f'test/mixed/NormStats/seed{seed}',
                 dict(id=f'test/mixed/NormStats/seed{seed}', status='done',
                      delta_ttt=1.0 + seed))
    labels = ['NormStats', 'TRTTT']
    b.select_hparams(['mixed'], [0, 1], labels,
                     {lab: b.grid(lab) for lab in labels})
    val = [r for r in ex.ran if r.startswith('val/')]
    assert len(val) == len(b.grid('NormStats')) + len(b.grid('TRTTT'))
    assert all('/seed0/' in r for r in val)  # the first seed's sources
    ns = b.choices[('NormStats', 'mixed')]
    assert ns['default'] and ns['setting'] == {'momentum': 0.1, 'passes': 1}
    reused = b.results[f'selected/mixed/NormStats/seed1/{ns["tag"]}']
    assert reused['reused'] == 'test/mixed/NormStats/seed1'
    assert reused['delta_ttt'] == 2.0
    tr = b.choices[('TRTTT', 'mixed')]
    lr = b.method_defaults('TRTTT')['optimizer']['lr']
    assert not tr['default']
    assert tr['setting']['optimizer.lr'] == pytest.approx(top * lr)
    assert tr['setting']['steps'] == b.method_defaults('TRTTT')['steps']
    sel = [r for r in ex.ran if r.startswith('selected/')]
    assert sel == [f'selected/mixed/TRTTT/seed{s}/{tr["tag"]}'
                   for s in (0, 1)]
    assert b.results[sel[0]]['overrides']['optimizer']['lr'] == \
        pytest.approx(top * lr)

