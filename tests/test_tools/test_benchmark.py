"""tools/benchmark.py: the analysis (pure functions), a 2-iteration smoke run
through the real entry points (default suite), and the --quick run
(``@pytest.mark.benchmark``, excluded by ``make test``)."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

from tool_helpers import load_tool

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
CONFIG = osp.join(ROOT, 'configs', 'benchmark', 'synth.py')


bm = load_tool('benchmark')


# ---------------------------------------------------------------- analysis
def _curve(deltas, steps):
    metrics = [{'semseg/mIoU': 10.0 + d, 'depth/rmse': 1.0} for d in deltas]
    base = [{'semseg/mIoU': 10.0, 'depth/rmse': 1.0} for _ in deltas]
    return dict(steps_per_batch=steps, delta_ttt=deltas, metrics=metrics,
                base_metrics=base)


def test_curve_points_and_best_step():
    pts = bm.curve_points(_curve([9.0, 1.0, 4.0, 2.0], [2, 2, 0, 2]), 8, 30)
    assert [p['images'] for p in pts] == [8, 16, 24, 30]
    assert [p['steps'] for p in pts] == [2, 4, 4, 6]
    assert pts[0]['per_task']['semseg/mIoU'] == pytest.approx(90.0)
    # 25 % of 4 batches: every prefix may win, the first one does
    assert bm.best_step(pts, 0.25)['batch'] == 1
    # at least half of the stream: batch 3 (Δ 4.0) beats batch 4 (2.0)
    best = bm.best_step(pts, 0.5)
    assert (best['batch'], best['delta_ttt'], best['steps'],
            best['min_batch']) == (3, 4.0, 4, 2)
    assert bm.best_step([], 0.25) is None
    # a statistics-only method records no step: its passes count
    pts = bm.curve_points(_curve([1.0, 2.0], [0, 0]), 4, None, passes=3)
    assert [p['steps'] for p in pts] == [3, 6]


def _run(method, seed, delta, family='mixed', kind='test', miou=None):
    miou = 10.0 + delta if miou is None else miou
    return dict(id=f'{kind}/{family}/{method}/seed{seed}', kind=kind,
                method=method, seed=seed, family=family, status='done',
                adapted={'semseg/mIoU': miou, 'depth/rmse': 1.0 - delta / 100,
                         'normal/mean_angle': 30.0, 'edge/rmse': 0.4},
                base={'semseg/mIoU': 10.0}, per_task={},
                delta_ttt=delta, steps_per_batch=1.0,
                best_step=dict(delta_ttt=delta + 1, adapted={
                    'semseg/mIoU': miou + 1}, per_task={}, base={}),
                curve=[dict(batch=1, images=8, steps=1, delta_ttt=delta)])


def test_table1_bold_mean_std_and_unavailable():
    runs = [_run('A', 0, 2.0), _run('A', 1, 4.0), _run('B', 0, 5.0),
            _run('B', 1, 7.0), _run('B', 0, 99.0, family='content')]
    src = [dict(metrics={'semseg/mIoU': 9.0, 'depth/rmse': 1.2,
                         'normal/mean_angle': 31.0, 'edge/rmse': 0.5})]
    text = bm.table1(runs, 'mixed', 'last', ['A', 'B'], src,
                     {'C': 'hook not registered'})
    lines = text.splitlines()
    assert lines[0].startswith('| method | mIoU')
    a = next(line for line in lines if line.startswith('| A |'))
    b = next(line for line in lines if line.startswith('| B |'))
    assert '+3.00 ± 1.41' in a and '| 2 |' in a  # mean ± sample std
    assert '**+6.00 ± 1.41**' in b  # best Δ_TTT in bold
    assert '**16.00 ± 1.41**' in b  # best mIoU (higher is better)
    assert '**0.400 ± 0.000**' in a  # a tie: both bold
    assert '| Source only | 9.00 ± 0.00 |' in text
    assert '| C | not available: hook not registered |' in text
    best = bm.table1(runs, 'mixed', 'best', ['A', 'B'])
    assert '**+7.00 ± 1.41**' in best
    assert bm.table1(runs, 'geometry', 'last', ['A']).startswith('_no')


def test_paired_comparison():
    runs = [_run('R', 0, 5.0), _run('X', 0, 3.0), _run('Y', 0, 4.0),
            _run('R', 1, 1.0), _run('X', 1, 2.0), _run('R', 2, 1.0)]
    pc = bm.paired(runs, 'mixed', 'R', ['R', 'X', 'Y'])
    assert [r['seed'] for r in pc['rows']] == [0, 1]  # seed 2: R alone
    assert pc['rows'][0]['best_other'] == 'Y'
    assert pc['rows'][0]['diff'] == pytest.approx(1.0)
    assert pc['rows'][1]['diff'] == pytest.approx(-1.0)
    assert (pc['wins'], pc['seeds']) == (1, 2)
    # a control that reproduces the reference within TIE_POINTS is a tie
    runs = [_run('R', 0, 5.0), _run('C', 0, 5.0 - 1e-3), _run('X', 0, 1.0),
            _run('R', 1, 5.0), _run('C', 1, 5.0 - 0.2)]
    pc = bm.paired(runs, 'mixed', 'R', ['R', 'C', 'X'])
    assert bm.TIE_POINTS == 0.05
    assert [r['tie'] for r in pc['rows']] == [True, False]
    assert [r['win'] for r in pc['rows']] == [False, True]
    assert (pc['wins'], pc['ties'], pc['seeds']) == (1, 1, 2)


def test_shift_table_recovered_share():
    sv = [dict(seed=0, metrics={'semseg/mIoU': 60.0, 'depth/rmse': 0.5})]
    tg = [dict(seed=0, metrics={'semseg/mIoU': 20.0, 'depth/rmse': 1.5})]
    rec = [dict(seed=0, status='done',
                adapted={'semseg/mIoU': 30.0, 'depth/rmse': 1.0})]
    text = bm.shift_table('mixed', sv, tg, {'NormStats': rec, 'Other': []})
    assert 'NormStats: recovered (% of the loss)' in text.splitlines()[0]
    miou = next(line for line in text.splitlines() if 'mIoU' in line)
    depth = next(line for line in text.splitlines() if 'depth' in line)
    assert '-66.7 ± 0.0' in miou and '+25.0 ± 0.0' in miou
    assert '+50.0 ± 0.0' in depth  # half of the depth loss recovered
    assert '-200.0 ± 0.0' in depth  # lower is better: the change is < 0
    assert depth.endswith('| — | — |')  # a method without runs


def test_config_checks_grid_and_values(tmp_path):
    cfg = bm.load_benchmark_config(CONFIG)
    assert cfg['families'] == ['appearance', 'geometry', 'content', 'mixed']
    assert len(cfg['seeds']) == 3
    quick = bm.load_benchmark_config(CONFIG, quick=True)
    assert quick['seeds'] == [0] and len(quick['families']) == 1
    assert quick['train']['iters'] < cfg['train']['iters']
    assert quick['sources']['tttflow']['finetune']['config'] == \
        cfg['sources']['tttflow']['finetune']['config']
    assert bm.load_benchmark_config(
        CONFIG, options={'train.iters': 7})['train']['iters'] == 7
    bad = tmp_path / 'bad.py'
    bad.write_text("families = ['mixed']\nseeds = [0]\n")
    with pytest.raises(SystemExit, match=r"missing key\(s\)"):
        bm.load_benchmark_config(str(bad))
    bad.write_text(
        f"_base_ = ['{CONFIG}']\n"
        "methods = dict(X=dict(hook='TENTHook', source='nowhere'))\n")
    with pytest.raises(SystemExit, match="methods.X.source 'nowhere'"):
        bm.load_benchmark_config(str(bad))
    with pytest.raises(SystemExit, match='not found'):
        bm.load_benchmark_config(str(tmp_path / 'none.py'))
    # grids: lr x factors, steps {1, default}; explicit grids win
    b = bm.Benchmark(cfg, CONFIG, str(tmp_path / 'w'), 1, 1, True, False,
                     'cpu')
    trttt = b.method_defaults('TRTTT')
    grid = b.grid('TRTTT')
    lrs = sorted({g['optimizer.lr'] for g in grid})
    assert lrs == pytest.approx([trttt['optimizer']['lr'] * f
                                 for f in (0.1, 1.0, 10.0)])
    assert sorted({g['steps'] for g in grid}) == sorted({1, trttt['steps']})
    ns = b.grid('NormStats')
    assert all(0 < g['momentum'] <= 1 for g in ns)
    assert {g['passes'] for g in b.grid('NormStatsX10')} == {1, 10}
    lr = trttt['optimizer']['lr']
    assert b.is_default('TRTTT', {'optimizer.lr': lr,
                                  'steps': trttt['steps']})
    assert not b.is_default('TRTTT', {'optimizer.lr': 10 * lr})
    assert b.selection_seeds([3, 4, 5]) == [3]
    cfg['hparam_selection']['seeds'] = 'all'
    assert b.selection_seeds([3, 4, 5]) == [3, 4, 5]
    cfg['methods']['TENT']['grid'] = {'optimizer.lr': [1e-4, 1e-3]}
    assert b.grid('TENT') == [{'optimizer.lr': 1e-4}, {'optimizer.lr': 1e-3}]
    assert b.nested({'optimizer.lr': 0.1, 'steps': 2}) == {
        'optimizer': {'lr': 0.1}, 'steps': 2}
    assert bm.cfg_value(2e-05) == '2e-05' and bm.cfg_value(True) == 'True'
    assert bm.flatten({'optimizer': {'lr': 1}}) == {'optimizer.lr': 1}


# -------------------------------------------------------- smoke (2 iters)
SMOKE = """
_base_ = ['{base}']
work_dir = '{work}'
data = dict(root='{data}', val_root='{data}_val', height=32, width=64,
            num_train=8, num_val=4, num_target_train=2, num_target_val=8,
            images_per_building=4)
families = ['geometry']
seeds = [0]
train = dict(iters=2, batch_size=4)
test = dict(batch_size=4)
sources = dict(missing=dict(config='configs/baselines/none/synth_t2n.py'))
methods = dict(
    NotRegistered=dict(hook='NoSuchTTTHook', source='plain'),
    NoConfig=dict(hook='TENTHook', source='missing'),
    NormStats=dict(overrides=dict(passes=2)),
    TRTTT=dict(overrides=dict(steps=1)))
cost = dict(enabled=False)
"""


def test_smoke_run_resume_and_report(tmp_path):
    """Two sources trained for 2 iterations, source-only evaluation, two
    methods on one family, two methods not available; then a resumed
    invocation that runs nothing."""
    cfg = tmp_path / 'smoke.py'
    work = tmp_path / 'work'
    cfg.write_text(SMOKE.format(base=CONFIG, work=work,
                                data=tmp_path / 'data'))
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'benchmark.py'), str(cfg),
           '--methods', 'NormStats', 'TRTTT', 'NotRegistered', 'NoConfig',
           '--set', 'eval_source_val=false']
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert 'not available: NotRegistered' in res.stdout
    assert 'configs/baselines/none/synth_t2n.py does not exist' in res.stdout
    data = json.load(open(work / 'results.json'))
    runs = {r['id']: r for r in data['runs']}
    assert set(data['unavailable']) == {'NotRegistered', 'NoConfig'}
    for label, steps in (('NormStats', 2), ('TRTTT', 1)):
        r = runs[f'test/geometry/{label}/seed0']
        assert r['status'] == 'done', r
        assert set(r['adapted']) == set(bm.TASK_KEYS)
        assert set(r['base']) == set(bm.TASK_KEYS)
        assert len(r['curve']) == 2  # 8 images in batches of 4
        assert r['curve'][-1]['steps'] == 2 * steps
        assert r['delta_ttt'] == pytest.approx(r['curve'][-1]['delta_ttt'],
                                               abs=1e-6)
        assert r['nonfinite_skips'] == 0 and r['wall_s'] > 0
        assert r['best_step']['batch'] in (1, 2)
    assert runs['eval/geometry/plain/seed0']['status'] == 'done'
    assert not any(k.startswith('eval/source_val') for k in runs)
    report = (work / 'report.md').read_text()
    assert '## Family `geometry`' in report
    assert 'Table 1, last' in report and 'ORACLE' in report
    assert '| NotRegistered | not available' in report
    assert 'TRTTT wins on' in report
    assert (work / 'fig3_geometry.png').read_bytes()[:4] == b'\x89PNG'
    # the same source is cached by config and seed: a second invocation
    # runs nothing and reports every unit as cached
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    done = [line for line in res.stdout.splitlines() if line.startswith('[')]
    assert done and all('cached' in line for line in done), res.stdout


# --------------------------------------------------- --quick (benchmark)
@pytest.mark.benchmark
def test_quick_run(tmp_path):
    """The documented smoke run: every method of configs/benchmark/synth.py,
    one seed, one family, short schedules (< 10 min on 2 CPU cores)."""
    work = tmp_path / 'quick'
    env = dict(os.environ)
    res = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'benchmark.py'), CONFIG,
         '--quick', '--work-dir', str(work), '--set',
         f'data.root={tmp_path / "data"}'], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=1200)
    assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-3000:]
    data = json.load(open(work / 'results.json'))
    assert all('kind' in r for r in data['runs'])
    tests = [r for r in data['runs'] if r['kind'] == 'test']
    assert tests and all(r['status'] == 'done' for r in tests)
    assert len(tests) + len(data['unavailable']) == len(
        bm.load_benchmark_config(CONFIG)['methods'])
    report = (work / 'report.md').read_text()
    assert '## Cost' in report and 'Paired comparison' in report


@pytest.mark.benchmark
def test_quick_hparam_selection(tmp_path):
    """--select-hparams on two methods: grids on the validation target,
    the chosen setting on the test target."""
    work = tmp_path / 'select'
    res = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'benchmark.py'), CONFIG,
         '--quick', '--work-dir', str(work), '--methods', 'NormStats',
         'TRTTT', '--select-hparams', '--no-cost', '--set',
         f'data.root={tmp_path / "data"}',
         f'data.val_root={tmp_path / "data_val"}'], cwd=ROOT,
        capture_output=True, text=True, timeout=1200)
    assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-3000:]
    data = json.load(open(work / 'results.json'))
    val = [r for r in data['runs'] if r['kind'] == 'val']
    sel = [r for r in data['runs'] if r['kind'] == 'selected']
    assert {r['method'] for r in sel} == {'NormStats', 'TRTTT'}
    assert all(r['which'] == 'val' for r in val) and len(val) >= 6
    report = (work / 'report.md').read_text()
    assert 'selected (learning rate and steps picked on the validation' \
        in report
    assert '## Selected hyper-parameters' in report


def test_shift_table_no_share_without_a_loss():
    """Where a family does not cost the source model at least
    MIN_LOSS_PCT % (or helps it), the recovered share would divide by noise:
    the table says n/a instead of a share of thousands of %."""
    sv = [dict(seed=0, metrics={'semseg/mIoU': 60.0, 'depth/rmse': 0.50,
                                'edge/rmse': 0.40})]
    tg = [dict(seed=0, metrics={'semseg/mIoU': 59.0, 'depth/rmse': 0.45,
                                'edge/rmse': 0.60})]
    rec = [dict(seed=0, status='done',
                adapted={'semseg/mIoU': 50.0, 'depth/rmse': 0.50,
                         'edge/rmse': 0.50})]
    text = bm.shift_table('content', sv, tg, {'NormStats': rec})
    line = {k: next(x for x in text.splitlines() if k in x)
            for k in ('mIoU', 'depth', 'edge')}
    assert bm.MIN_LOSS_PCT == 5.0
    assert line['mIoU'].endswith('| 50.00 ± 0.00 | n/a (loss < 5 %) |')
    assert line['depth'].endswith('| n/a (loss < 5 %) |')  # a gain
    assert line['edge'].endswith('| +50.0 ± 0.0 |')  # -50 %: half back
    # two seeds, a loss on one only: the share says so
    sv.append(dict(seed=1, metrics={'edge/rmse': 0.40}))
    tg.append(dict(seed=1, metrics={'edge/rmse': 0.41}))
    rec.append(dict(seed=1, status='done', adapted={'edge/rmse': 0.40}))
    text = bm.shift_table('content', sv, tg, {'NormStats': rec})
    edge = next(x for x in text.splitlines() if 'edge' in x)
    assert edge.endswith('| +50.0 ± 0.0 (1 of 2 seeds) |')


def test_results_json_keeps_runs_of_earlier_invocations(tmp_path):
    """A later invocation (e.g. another seed) adds its runs to results.json;
    the runs of earlier ones stay, and a run it repeats replaces the old."""
    cfg = bm.load_benchmark_config(CONFIG)
    work = tmp_path / 'w'
    work.mkdir()
    earlier = [dict(id='test/TRTTT/seed0/mixed', status='done',
                    delta_ttt=1.0),
               dict(id='test/TENT/seed0/mixed', status='done',
                    delta_ttt=2.0)]
    bm.write_json(str(work / 'results.json'), dict(runs=earlier))
    b = bm.Benchmark(cfg, CONFIG, str(work), 1, 1, False, False, 'cpu')
    b.record('test/TRTTT/seed2/mixed', dict(id='test/TRTTT/seed2/mixed',
                                            status='done', delta_ttt=3.0))
    b.record('test/TENT/seed0/mixed', dict(id='test/TENT/seed0/mixed',
                                           status='done', delta_ttt=4.0))
    runs = {r['id']: r['delta_ttt']
            for r in bm.read_json(str(work / 'results.json'))['runs']}
    assert runs == {'test/TRTTT/seed0/mixed': 1.0,
                    'test/TENT/seed0/mixed': 4.0,
                    'test/TRTTT/seed2/mixed': 3.0}


def test_summary_table_per_method_and_family():
    def run(method, family, seed, d, kind='test'):
        return dict(method=method, family=family, seed=seed, kind=kind,
                    status='done', delta_ttt=d, adapted={}, per_task={},
                    base={})
    runs = [run('A', 'mixed', 0, 10.0), run('A', 'mixed', 1, 20.0),
            run('B', 'mixed', 0, 30.0), run('B', 'mixed', 1, 10.0),
            run('A', 'geometry', 0, -1.0), run('B', 'geometry', 0, -2.0),
            run('B', 'geometry', 1, -4.0),
            run('A', 'mixed', 0, 99.0, kind='selected')]
    text = bm.summary_table(runs, ['geometry', 'mixed'], ['A', 'B', 'C'],
                            'last')
    lines = text.splitlines()
    assert lines[0] == '| method | geometry | mixed |'
    a = next(x for x in lines if x.startswith('| A '))
    b = next(x for x in lines if x.startswith('| B '))
    # A: geometry one seed (marked), the best there; mixed 15 ± 7.07
    assert a == '| A | **-1.0 ± 0.0 (1)** | +15.0 ± 7.1 |'
    # B: geometry -3 ± 1.41; mixed 20 ± 14.14, the best
    assert b == '| B | -3.0 ± 1.4 | **+20.0 ± 14.1** |'
    assert not any(x.startswith('| C ') for x in lines)  # no run
    sel = bm.summary_table(runs, ['geometry', 'mixed'], ['A', 'B'],
                           'selected')
    assert '| A | — | **+99.0 ± 0.0 (1)** |' in sel


def test_summary_table_on_a_common_reference():
    """Two methods with different source models: against the shared
    source-only reference the one whose own source started lower but ends
    at the same adapted metrics gets the same score."""
    def run(method, seed, base, adapted):
        return dict(method=method, family='appearance', seed=seed,
                    kind='test', status='done', delta_ttt=None,
                    adapted={'semseg/mIoU': adapted},
                    base={'semseg/mIoU': base}, per_task={})
    runs = [run('Own', 0, 5.0, 12.0), run('Plain', 0, 10.0, 12.0),
            run('Own', 1, 5.0, 15.0), run('Plain', 1, 10.0, 15.0)]
    common = {('appearance', 0): {'semseg/mIoU': 10.0},
              ('appearance', 1): {'semseg/mIoU': 10.0}}
    text = bm.summary_table(runs, ['appearance'], ['Own', 'Plain'], 'last',
                            common)
    own = next(x for x in text.splitlines() if x.startswith('| Own '))
    plain = next(x for x in text.splitlines() if x.startswith('| Plain '))
    # +20 % and +50 % against the common 10.0: mean 35, std 21.2
    assert own == '| Own | **+35.0 ± 21.2** |'
    assert plain == '| Plain | **+35.0 ± 21.2** |'
