"""trttt_mm.benchmark.executors: the executor interface, units finishing
out of order."""
import sys
import time

import pytest

from trttt_mm.benchmark.executors import LocalExecutor
from trttt_mm.benchmark.steps import UnitSpec


def cost_unit(tmp_path, name, sleep, value, wait_for=None, touch=None):
    """A cost unit whose command sleeps (or waits until the file
    ``wait_for`` exists, at most 300 s), touches the file ``touch``, then
    prints its JSON result."""
    work = tmp_path / name
    info = dict(kind='cost', method=name)
    code = (f'import os, time, json; t0 = time.time(); time.sleep({sleep})\n'
            f'while {str(wait_for)!r} != "None" and not os.path.exists('
            f'{str(wait_for)!r}) and time.time() - t0 < 300:\n'
            f'    time.sleep(0.05)\n'
            f'if {str(touch)!r} != "None": open({str(touch)!r}, "w")\n'
            f'print(json.dumps({{"v": {value}, "t0": t0, '
            f'"t": time.time()}}))')
    return UnitSpec(f'cost/{name}', 'cost', dict(name=name), str(work), info,
                    dict(info=info, log=str(work / 'cost.log'),
                         cmd=[sys.executable, '-c', code]))


def test_local_executor_reports_each_unit_as_it_finishes(tmp_path):
    # 'slow' ends only once 'fast' has been reported (the callback writes
    # the flag it waits for): both must run at once, and each be reported
    # as it finishes, or 'slow' waits out its 300 s and comes first
    flag = tmp_path / 'fast_reported'
    specs = [cost_unit(tmp_path, 'slow', 0.0, 1, wait_for=flag),
             cost_unit(tmp_path, 'fast', 0.0, 2)]
    seen = []

    def on_done(spec, rec):
        seen.append((spec.rid, rec['micro']['v'], time.time()))
        flag.touch()

    t0 = time.time()
    LocalExecutor(2, 'cpu', 1).run(specs, on_done)
    assert [s[:2] for s in seen] == [('cost/fast', 2), ('cost/slow', 1)]
    assert time.time() - t0 < 250


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


# ------------------------------------------------------------- submitit
@pytest.mark.slow
def test_submitit_local_executor_out_of_order_and_throttled(tmp_path):
    """Every unit a job of submitit's local executor: records come back as
    the jobs finish; ``max_parallel`` limits the jobs at a time."""
    from trttt_mm.benchmark.executors import SubmititExecutor
    ex = SubmititExecutor(str(tmp_path / 'submitit'), 'local',
                          max_parallel=2)
    assert (ex.name, ex.device, ex.threads, ex.shares_machine) == (
        'submitit-local', 'cpu', 1, True)
    # 'slow' waits for 'third', which can start only when 'fast' has
    # ended (two at a time)
    flag = tmp_path / 'third_ran'
    specs = [cost_unit(tmp_path, 'slow', 0.0, 1, wait_for=flag),
             cost_unit(tmp_path, 'fast', 0.0, 2),
             cost_unit(tmp_path, 'third', 0.0, 3, touch=flag)]
    recs = {}
    ex.run(specs, lambda s, r: recs.update({s.rid: r}))
    # reported as they finished, not in the order they were given: 'fast'
    # ends before 'third' starts, so before 'slow' ends ('slow' and 'third'
    # can end within one poll of each other, in either order)
    assert list(recs)[0] == 'cost/fast'
    assert sorted(recs) == ['cost/fast', 'cost/slow', 'cost/third']
    assert {k: (r['status'], r['micro']['v']) for k, r in recs.items()} == {
        'cost/slow': ('done', 1), 'cost/fast': ('done', 2),
        'cost/third': ('done', 3)}
    t = {k.split('/')[1]: r['micro'] for k, r in recs.items()}
    assert t['third']['t0'] >= t['fast']['t']  # throttled
    # each job wrote its unit's done.json itself
    assert all((tmp_path / n / 'done.json').is_file()
               for n in ('slow', 'fast', 'third'))
    assert list((tmp_path / 'submitit').iterdir())  # submitit's own files


def test_a_job_without_a_result_is_a_failed_record(tmp_path):
    from trttt_mm.benchmark.executors import SubmititExecutor
    ex = SubmititExecutor(str(tmp_path / 'submitit'), 'local')

    class DeadJob:
        job_id = '123'

        class paths:
            stdout, stderr = 'a.out', 'a.err'

        def result(self):
            raise RuntimeError('Job 123 (task: 0) with path x has not '
                               'produced any output (state: TIMEOUT)')

    spec = cost_unit(tmp_path, 'dead', 0, 0)
    rec = ex._result(spec, DeadJob())
    assert rec['status'] == 'failed' and rec['id'] == 'cost/dead'
    assert 'job 123 ended without a result' in rec['error']
    assert 'TIMEOUT' in rec['error'] and 'a.err' in rec['error']


def test_slurm_settings_reach_the_sbatch_script(tmp_path, monkeypatch):
    """No Slurm here: a stand-in ``srun`` lets submitit build its Slurm
    executor, whose job script must carry the benchmark's settings."""
    import os
    from trttt_mm.benchmark.executors import (SubmititExecutor,
                                              make_executor)
    from trttt_mm.benchmark.units import ROOT
    monkeypatch.setenv('PATH', os.defpath)
    monkeypatch.setattr(os, 'environ', dict(os.environ, PATH=''))
    with pytest.raises(SystemExit, match='--executor slurm: .*srun'):
        make_executor('slurm', 1, 1, 'cpu', str(tmp_path))
    monkeypatch.undo()
    bin_ = tmp_path / 'bin'
    bin_.mkdir()
    (bin_ / 'srun').write_text('#!/bin/sh\nexit 0\n')
    (bin_ / 'srun').chmod(0o755)
    monkeypatch.setenv('PATH', f'{bin_}{os.pathsep}{os.environ["PATH"]}')
    ex = make_executor('slurm', 1, 1, 'cpu', str(tmp_path), dict(
        partition='gpu', gpus_per_node=1, cpus_per_task=6, mem_gb=40,
        timeout_min=45, account='proj', setup=['module load cuda']))
    assert isinstance(ex, SubmititExecutor)
    assert (ex.name, ex.device, ex.threads, ex.shares_machine) == (
        'slurm', 'cuda', 6, False)
    text = ex.executor._executor._make_submission_file_text('CMD', 'u')
    for line in ('#SBATCH --partition=gpu', '#SBATCH --gpus-per-node=1',
                 '#SBATCH --cpus-per-task=6', '#SBATCH --mem=40GB',
                 '#SBATCH --time=45', '#SBATCH --account=proj',
                 f'export PYTHONPATH={ROOT}:$PYTHONPATH',
                 'module load cuda'):
        assert line in text, line
    assert str(tmp_path / 'submitit') in text  # the default folder
    with pytest.raises(SystemExit, match=r"unknown Slurm setting\(s\) "
                       r"\['gpu'\]"):
        make_executor('slurm', 1, 1, 'cpu', str(tmp_path), dict(gpu=1))
    with pytest.raises(SystemExit, match="expected one of"):
        make_executor('sge', 1, 1, 'cpu', str(tmp_path))
    assert make_executor('local', 2, 1, 'cpu', str(tmp_path)).jobs == 2
