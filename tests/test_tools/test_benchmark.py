"""tools/benchmark.py end to end: a 2-iteration smoke run through the real
entry points (default suite); the same through submitit's local executor,
and the --quick runs (``@pytest.mark.benchmark``, excluded by
``make test``). The library's
modules have their own tests in tests/test_benchmark/."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

from trttt_mm.benchmark import TASK_KEYS
from trttt_mm.benchmark.spec import load_benchmark_config

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
CONFIG = osp.join(ROOT, 'configs', 'benchmark', 'synth.py')


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
           '--methods', 'NormStats', 'TRTTT', 'TRTTTStats', 'TRTTTGrad',
           'NotRegistered', 'NoConfig', '--set', 'eval_source_val=false']
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
        assert set(r['adapted']) == set(TASK_KEYS)
        assert set(r['base']) == set(TASK_KEYS)
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
    # the decomposition (issue 16): TR-TTT's gradient-only variant ran (its
    # steps counted); the row's interaction is both - stats - grad
    grad = runs['test/geometry/TRTTTGrad/seed0']
    assert grad['status'] == 'done' and grad['curve'][-1]['steps'] == 2
    parts = [runs[f'test/geometry/{lab}/seed0']['delta_ttt']
             for lab in ('TRTTTStats', 'TRTTTGrad', 'TRTTT')]
    row = next(line for line in report.splitlines()
               if line.startswith('| TRTTT | geometry |'))
    assert row.endswith(f'| {parts[2] - parts[0] - parts[1]:+.2f} ± 0.00 '
                        '| 1 |'), row
    assert '## Decomposition: statistics only, gradient only, both' in report
    # a generated variant is no row of the method tables
    tables = report[report.index('## Summary'):report.index('## Decomp')]
    assert '| TRTTTGrad |' not in tables and '| TRTTTStats |' in tables
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
        load_benchmark_config(CONFIG)['methods'])
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


# ------------------------------------------- submitit's local executor
#: In the benchmark tier (70 s, outside ``make test``'s 10 minutes): the
#: executor's submitit path has its own default-suite test with real jobs
#: (tests/test_benchmark/test_benchmark_executors.py).
@pytest.mark.benchmark
def test_smoke_run_through_submitit_local_executor(tmp_path):
    """``--executor submitit-local``: every unit a submitit job (the Slurm
    path, on this machine): a source trained for 2 iterations, its target
    evaluation and one method; the jobs write their units' done.json, so a
    second invocation runs nothing."""
    cfg = tmp_path / 'smoke.py'
    work = tmp_path / 'work'
    cfg.write_text(SMOKE.format(base=CONFIG, work=work,
                                    data=tmp_path / 'data'))
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'benchmark.py'), str(cfg),
           '--methods', 'NormStats', '--executor', 'submitit-local',
           '--set', 'eval_source_val=false']
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert 'submitit-local: jobs in' in res.stdout
    data = json.load(open(work / 'results.json'))
    runs = {r['id']: r for r in data['runs']}
    assert data['benchmark']['executor'] == 'submitit-local'
    assert set(runs) == {'source/plain/seed0', 'eval/geometry/plain/seed0',
                         'test/geometry/NormStats/seed0'}
    assert all(r['status'] == 'done' for r in runs.values()), runs
    assert set(runs['test/geometry/NormStats/seed0']['adapted']) == \
        set(TASK_KEYS)
    # submitit's job files: one pickled result per unit
    assert len(list((work / 'submitit').glob('*_result.pkl'))) == 3
    assert '## Family `geometry`' in (work / 'report.md').read_text()
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    done = [line for line in res.stdout.splitlines() if line.startswith('[')]
    assert len(done) == 3 and all('cached' in x for x in done), res.stdout


@pytest.mark.benchmark
def test_quick_run_through_submitit_local_executor(tmp_path):
    """The --quick run (two methods and their step costs) with every unit
    a job of submitit's local executor, two at a time."""
    work = tmp_path / 'quick'
    res = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'benchmark.py'), CONFIG,
         '--quick', '--work-dir', str(work), '--methods', 'NormStats',
         'TRTTT', '--executor', 'submitit-local', '--jobs', '2', '--set',
         f'data.root={tmp_path / "data"}'], cwd=ROOT, capture_output=True,
        text=True, timeout=1800)
    assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-3000:]
    data = json.load(open(work / 'results.json'))
    kinds = {}
    for r in data['runs']:
        assert r['status'] == 'done', r
        kinds[r['kind']] = kinds.get(r['kind'], 0) + 1
    # plain + trttt sources, their source-val evaluations and the
    # source-only target, two method runs, two step costs
    assert kinds == dict(source=2, eval=3, test=2, cost=2)
    report = (work / 'report.md').read_text()
    assert '## Cost' in report and 'TRTTT wins on' in report
