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
    test runs are reused; TR-TTT's largest learning rate is best: it runs on
    the test target for every seed."""
    cfg = load_benchmark_config(CONFIG, quick=True)
    # TR-TTT's own grid (configs/benchmark/synth.py), else the common one
    top = max(cfg['methods']['TRTTT'].get('lr_factors')
              or cfg['hparam_selection']['lr_factors'])

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


# ------------------------------------------- issue 20, item 5: moved dirs
def _fake_training(spec, code):
    """The source unit's training replaced by a script (``code`` gets the
    checkpoint path as ``sys.argv[1]``)."""
    import sys
    step = spec.payload['steps'][0]
    step['cmd'] = [sys.executable, '-c', code, spec.payload['checkpoint']]
    return spec


def test_a_moved_work_dir_keeps_its_sources(tmp_path, capsys):
    """Issue 20, item 5: a work dir that is moved keeps its trained sources
    (checkpoints are recorded relative to the work dir; an absolute path of
    an older record is found again under the unit's new folder); a
    checkpoint that is gone makes the source train again, said so."""
    import shutil

    from trttt_mm.benchmark.executors import LocalExecutor
    cfg = load_benchmark_config(CONFIG, quick=True)
    write = ('import os, sys; os.makedirs(os.path.dirname(sys.argv[1]), '
             'exist_ok=True); open(sys.argv[1], "w").write("w")')
    old = tmp_path / 'old'
    b = Benchmark(cfg, CONFIG, str(old), 1, 1, False, False, 'cpu',
                  executor=LocalExecutor(1, 'cpu', 1))
    b.run_units([_fake_training(b.source_spec('plain', 0), write)])
    assert b.results['source/plain/seed0']['status'] == 'done'
    new = tmp_path / 'new'
    shutil.move(str(old), str(new))

    def resumed():
        ex = ReversedExecutor()
        b2 = Benchmark(cfg, CONFIG, str(new), 1, 1, False, False, 'cpu',
                       executor=ex)
        b2.run_units([_fake_training(b2.source_spec('plain', 0),
                                     'import sys; sys.exit(7)')])
        return b2, ex

    b2, ex = resumed()
    assert ex.ran == []  # cached
    ckpt = b2.method_spec('NormStats', 0, 'mixed').payload['cmd'][3]
    assert ckpt.startswith(str(new)) and osp.isfile(ckpt)
    # a record of an older version: the absolute path of the old place
    done = osp.join(b2.keys.source_dir('plain', 0), 'done.json')
    data = json.load(open(done))
    rel = data['result']['checkpoint']
    data['result']['checkpoint'] = osp.join(str(old), rel)
    json.dump(data, open(done, 'w'))
    b3, ex = resumed()
    assert ex.ran == []
    assert b3.method_spec('NormStats', 0, 'mixed').payload['cmd'][3] == ckpt
    # the checkpoint is gone: the source is trained again
    import os
    os.remove(ckpt)
    b4, ex = resumed()
    assert ex.ran == ['source/plain/seed0']
    assert 'is missing' in capsys.readouterr().out
    assert b4.results['source/plain/seed0']['status'] == 'failed'


# ----------------------------------- issue 20, item 1: mixed settings
def _made_up_run(spec):
    if spec.kind == 'source':
        return dict(checkpoint='x.pth')
    if spec.kind == 'eval':
        return dict(metrics={'semseg/mIoU': 10.0, 'depth/rmse': 1.0,
                             'normal/mean_angle': 30.0, 'edge/rmse': 0.5})
    d = 5.0 if spec.meta['method'] == 'TRTTT' else 1.0
    return dict(adapted={'semseg/mIoU': 10.0 + d}, base={'semseg/mIoU': 10.0},
                per_task={}, delta_ttt=d, best_step=None, curve=[],
                steps_per_batch=1.0, num_images=16, wall_s=1.0)


def _invocation(cfg, work, labels):
    b = Benchmark(cfg, CONFIG, str(work), 1, 1, False, False, 'cpu',
                  executor=MadeUpExecutor(_made_up_run))
    for s in b.sources_of(labels) + ['plain']:
        b.run_units([b.source_spec(s, 0)])
    b.run_units([b.eval_spec('plain', 0, 'mixed')])
    b.run_units([b.method_spec(lab, 0, 'mixed') for lab in labels])
    b.write_results()
    return b


def test_report_never_mixes_settings(tmp_path):
    """Issue 20, item 1: a second invocation with other settings
    (``--set train.iters=3 --methods NormStats``) on the same work dir: the
    report of either settings shows only the rows of its own settings,
    names the runs left out and the settings that differ, and states the
    settings of every row."""
    a = load_benchmark_config(CONFIG, quick=True)
    b = load_benchmark_config(CONFIG, quick=True,
                              options={'train.iters': 3})
    _invocation(a, tmp_path, ['NormStats', 'TRTTT'])
    _invocation(b, tmp_path, ['NormStats'])

    def report(cfg):
        r = Benchmark(cfg, CONFIG, str(tmp_path), 1, 1, False, False, 'cpu')
        r.load_previous()
        return r.report(['mixed'], [0], ['NormStats', 'TRTTT'])

    text = report(b)
    table = text[text.index('### Table 1, last'):]
    table = table[:table.index('\n#')]
    assert '| NormStats |' in table and '| TRTTT |' not in table
    assert '| Source only |' in table
    assert 'source training 3 iterations' in text
    left = text[text.index('## Runs left out'):]
    assert '`test/mixed/TRTTT/seed0`' in left
    assert '`source.train.iters`: 40 (this report: 3)' in left
    assert 'not in this report' in text[:text.index('## Summary')]
    settings = text[text.index('## Settings of every row'):]
    assert '| trttt | `configs/trttt/synth_t2n.py` | 3 iterations' in settings
    # the first settings: TR-TTT's rows; NormStats and the source-only
    # model were made again with the second ones, so they are left out
    text = report(a)
    table = text[text.index('### Table 1, last'):]
    table = table[:table.index('\n#')]
    assert '| TRTTT |' in table and '| NormStats |' not in table
    assert '| Source only |' not in table
    assert '`test/mixed/NormStats/seed0`' in text[text.index(
        '## Runs left out'):]
