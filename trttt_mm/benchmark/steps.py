"""What a unit of work runs: its subprocesses (the project's own entry
points) and the reading of their results into a run record.

Everything here runs where the executor puts the unit (a thread of this
process, or a Slurm job through submitit): it receives a :class:`UnitSpec`
of plain data and returns the unit's record; a finished unit also writes its
``done.json`` (the resume point) itself, so that a unit that finishes after
the invocation that started it is gone still counts on the next one."""
import os
import os.path as osp
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from typing import List, Optional

from trttt_mm.utils.jsonio import read_json

from .cost import parse_cost_output
from .protocols import TASK_KEYS, best_step, curve_points
from .units import ROOT, unit_digest, write_done


class StepFailed(RuntimeError):
    """A subprocess of a unit failed; the message holds its log's tail."""


@dataclass
class UnitSpec:
    """One unit of work, as plain data (picklable for a remote executor).

    Attributes:
        rid: the run id (``source/plain/seed0``, ``test/mixed/TRTTT/seed0``).
        kind: ``source``, ``eval``, ``test`` or ``cost``.
        key: everything the result depends on (its digest is the cache key).
        work: the unit's folder (absolute).
        meta: the fields of the record of a failure.
        payload: the commands and what to read back (per kind).
    """
    rid: str
    kind: str
    key: dict
    work: str
    meta: dict = field(default_factory=dict)
    payload: dict = field(default_factory=dict)

    @property
    def digest(self) -> str:
        return unit_digest(self.key)


def run_process(cmd: List[str], log: str, threads: Optional[int],
                timeout: Optional[float] = None) -> dict:
    """Run ``cmd`` in the repository root, output to ``log``.

    Returns:
        ``dict(rc, wall_s, cpu_s, max_rss_mib)`` (CPU time and peak resident
        memory of that process and its children, where the OS tells).
    """
    env = dict(os.environ)
    env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
    if threads:
        for k in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
            env[k] = str(threads)
    os.makedirs(osp.dirname(log), exist_ok=True)
    t0 = time.time()
    with open(log, 'w') as f:
        f.write('$ ' + ' '.join(cmd) + '\n')
        f.flush()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=f,
                                stderr=subprocess.STDOUT, env=env)
        cpu = rss = None
        if hasattr(os, 'wait4') and timeout is None:
            _, status, usage = os.wait4(proc.pid, 0)
            rc = os.waitstatus_to_exitcode(status)
            proc.returncode = rc
            cpu = usage.ru_utime + usage.ru_stime
            rss = usage.ru_maxrss / 1024.0  # KiB on Linux
        else:
            try:
                rc = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = proc.wait()
                f.write(f'\nbenchmark: killed after {timeout} s\n')
    return dict(rc=rc, wall_s=round(time.time() - t0, 3),
                cpu_s=None if cpu is None else round(cpu, 3),
                max_rss_mib=None if rss is None else round(rss, 1))


def log_tail(log: str, n: int = 3000) -> str:
    """The last ``n`` characters of a log ('' when it cannot be read)."""
    try:
        with open(log, errors='replace') as f:
            return f.read()[-n:]
    except OSError:
        return ''


def call(cmd: List[str], log: str, threads: Optional[int]) -> dict:
    """:func:`run_process`, raising :class:`StepFailed` (with the log's
    tail) on a non-zero exit status."""
    info = run_process(cmd, log, threads)
    if info['rc'] != 0:
        raise StepFailed(f'exit code {info["rc"]}: {" ".join(cmd[:4])} '
                         f'...; log {log}:\n{log_tail(log, 1500)}')
    return info


# ------------------------------------------------------------ per kind
def _source(spec: UnitSpec) -> dict:
    p = spec.payload
    info = dict(p['info'], steps=[])
    for step in p['steps']:
        if step.get('remove') and osp.exists(step['remove']):
            os.remove(step['remove'])
        r = call(step['cmd'], step['log'], p.get('threads'))
        extra = {'iters': step['iters']} if 'iters' in step else {}
        info['steps'].append(dict(step=step['step'], **extra, **r))
    ckpt = p['checkpoint']
    if not osp.isfile(ckpt):
        raise StepFailed(f'source {p["info"]["source"]}: no checkpoint '
                         f'{ckpt}')
    # relative to the work dir: a work dir that is moved keeps its sources
    info['checkpoint'] = osp.relpath(ckpt, p['work_dir']) \
        if p.get('work_dir') else ckpt
    info['cpu_s'] = sum(s.get('cpu_s') or 0 for s in info['steps'])
    return info


def _eval(spec: UnitSpec) -> dict:
    p = spec.payload
    r = call(p['cmd'], p['log'], p.get('threads'))
    m = read_json(p['metrics_out']) or {}
    return dict(p['info'], metrics={k: m[k] for k in TASK_KEYS if k in m},
                **r)


def diverged(metrics: dict) -> bool:
    """Whether a test run's metrics say the adapted model predicted
    non-finite values where the unadapted one did not (``<task>/nonfinite``
    above ``base/<task>/nonfinite``)."""
    return any(
        k.endswith('/nonfinite') and not k.startswith('base/') and
        (metrics[k] or 0) > (metrics.get(f'base/{k}') or 0)
        for k in metrics)


def _test(spec: UnitSpec) -> dict:
    p = spec.payload
    r = call(p['cmd'], p['log'], p.get('threads'))
    out = p['metrics_out']
    m = read_json(out)
    curve = read_json(p['curve'])
    b, n_img = p['batch_size'], p['num_images']
    if m and 'delta_ttt' not in m and diverged(m):
        # the adapted model predicts non-finite values: a finished run of a
        # setting that diverges (e.g. a learning rate at the top of a
        # grid), recorded as such and not run again
        return dict(
            p['info'], overrides=p['overrides'], diverged=True,
            delta_ttt=None, best_step=None,
            nonfinite={k: m[k] for k in m if k.endswith('/nonfinite')
                       and not k.startswith('base/')},
            steps=m.get('ttt/steps'),
            nonfinite_skips=m.get('ttt/nonfinite_skips'),
            adapted={}, base={}, per_task={}, curve=[],
            num_images=n_img, batch_size=b, **r)
    if not m or 'delta_ttt' not in m:
        raise StepFailed(f'{spec.rid}: no Δ_TTT in {out}')
    points = curve_points(curve or {}, b, n_img, p.get('passes'))
    spb = [q['steps'] for q in points]
    spb = [y - x for x, y in zip([0] + spb[:-1], spb)]
    return dict(
        p['info'],
        overrides=p['overrides'],
        adapted={k: m[k] for k in TASK_KEYS if k in m},
        base={k: m[f'base/{k}'] for k in TASK_KEYS if f'base/{k}' in m},
        per_task={k: m[f'delta/{k}'] for k in TASK_KEYS
                  if f'delta/{k}' in m},
        delta_ttt=m['delta_ttt'],
        steps=m.get('ttt/steps'),
        nonfinite_skips=m.get('ttt/nonfinite_skips'),
        steps_per_batch=(statistics.fmean(spb) if spb else 0.0),
        curve=[{k: q[k] for k in ('batch', 'images', 'steps', 'delta_ttt')}
               for q in points],
        best_step=best_step(points, p['min_fraction']),
        num_images=n_img, batch_size=b, **r)


def _cost(spec: UnitSpec) -> dict:
    p = spec.payload
    log = p['log']
    r = call(p['cmd'], log, p.get('threads'))
    try:
        m = parse_cost_output(log_tail(log, 200000))
    except ValueError:
        raise StepFailed(f'{spec.rid}: no JSON result in {log}') from None
    return dict(p['info'], micro=m, **r)


_KINDS = dict(source=_source, eval=_eval, test=_test, cost=_cost)


def execute_unit(spec: UnitSpec) -> dict:
    """Run a unit and return its record (``status`` ``done`` or
    ``failed``); a finished unit writes ``work/done.json``.

    A failure of the unit's own commands, or of reading their results, is a
    ``failed`` record (retried on the next invocation), never an exception.
    """
    t = time.time()
    try:
        res = _KINDS[spec.kind](spec)
        res['status'] = 'done'
    except StepFailed as e:
        res = dict(spec.meta, status='failed', error=str(e))
    except Exception as e:  # a result that cannot be read: keep going
        res = dict(spec.meta, status='failed',
                   error=f'{type(e).__name__}: {e} (in the benchmark, '
                   f'reading the results of {spec.rid})')
    res.setdefault('id', spec.rid)
    res.setdefault('wall_s', round(time.time() - t, 3))
    if res['status'] == 'done':
        write_done(spec.work, spec.key, res)
    return res
