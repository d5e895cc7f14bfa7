"""Executors: where the units of a stage run.

An executor takes the units of one stage (units that do not depend on each
other) and calls ``on_done(spec, record)`` in this process for each one as
it finishes, in whatever order they finish. :class:`LocalExecutor` runs them
as subprocesses of this machine, ``jobs`` at a time (the default);
:class:`SubmititExecutor` submits each one as a job through submitit, to
Slurm (``--executor slurm``) or to submitit's local executor
(``--executor submitit-local``)."""
import abc
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Callable, Optional, Sequence

from .steps import UnitSpec, execute_unit

OnDone = Callable[[UnitSpec, dict], None]


class UnitExecutor(abc.ABC):
    """Runs units of work.

    Attributes:
        name: the executor's name (``local``, ``slurm``, ...).
        device: the device the units' subprocesses use (``cpu``/``cuda``).
        threads: torch threads per unit (None: the tools' default).
        shares_machine: whether the units share this one machine (then a
            timing runs alone: the step-cost stage runs one unit at a time).
    """
    name = 'abstract'
    shares_machine = True

    def __init__(self, device: str, threads: Optional[int]):
        self.device = device
        self.threads = threads

    @abc.abstractmethod
    def run(self, specs: Sequence[UnitSpec], on_done: OnDone,
            parallel: Optional[int] = None) -> None:
        """Run every unit; call ``on_done(spec, record)`` here as each one
        finishes; return when all have.

        Args:
            specs: units that do not depend on each other.
            on_done: receives each unit's record (``status`` ``done`` or
                ``failed``: a unit's failure is a record, not an exception).
            parallel: at most this many at a time (None: the executor's
                own limit); 1 runs them alone, one after the other.
        """

    def describe(self) -> str:
        """One line for the log."""
        return self.name


class LocalExecutor(UnitExecutor):
    """Units as subprocesses of this machine, ``jobs`` at a time (threads
    of this process wait for them)."""
    name = 'local'

    def __init__(self, jobs: int, device: str, threads: Optional[int]):
        super().__init__(device, threads)
        if jobs < 1:
            raise ValueError(f'jobs must be >= 1, got {jobs}')
        self.jobs = jobs

    def run(self, specs: Sequence[UnitSpec], on_done: OnDone,
            parallel: Optional[int] = None) -> None:
        if not specs:
            return
        workers = min(parallel or self.jobs, self.jobs)
        with ThreadPoolExecutor(max_workers=workers) as ex:
            futures = {ex.submit(execute_unit, s): s for s in specs}
            for fut in as_completed(futures):
                on_done(futures[fut], fut.result())

    def describe(self) -> str:
        return (f'local: {self.jobs} job(s) x {self.threads or "default"} '
                f'thread(s); device {self.device}')


#: Executor names of the command line: this machine's pool, Slurm through
#: submitit, and submitit's own local executor (every unit a submitit job
#: on this machine: the Slurm path without a cluster, used by the tests).
EXECUTORS = ('local', 'slurm', 'submitit-local')
#: Default Slurm settings of a unit (``executor.slurm`` of the benchmark
#: config, or the command line, override them).
SLURM_DEFAULTS = dict(partition=None, gpus_per_node=1, cpus_per_task=8,
                      mem_gb=32, timeout_min=120, array_parallelism=64,
                      account=None, qos=None, constraint=None,
                      additional_parameters={}, setup=[])


class SubmititExecutor(UnitExecutor):
    """Every unit a job submitted through submitit: on Slurm
    (``cluster='slurm'``: a job array per stage, ``array_parallelism`` at a
    time) or with submitit's local executor (``cluster='local'``, at most
    ``max_parallel`` at a time).

    The jobs run :func:`~.steps.execute_unit` on a pickled
    :class:`~.steps.UnitSpec`: the repository and the work dir must be on a
    file system the nodes share (as they are on a usual Slurm cluster).
    Each job writes its unit's ``done.json`` itself; this process records
    the results as the jobs finish, in any order.

    Args:
        folder: submitit's folder (job scripts, pickles, logs).
        cluster: ``slurm`` or ``local``.
        slurm: Slurm settings (:data:`SLURM_DEFAULTS` keys).
        max_parallel: jobs at a time (None: all of a stage at once; Slurm
            throttles job arrays by ``array_parallelism``).
        poll_s: seconds between checks of the jobs.
        threads: torch threads per unit (default: ``cpus_per_task`` on
            Slurm, 1 with the local executor).
    """

    def __init__(self, folder: str, cluster: str = 'slurm',
                 slurm: Optional[dict] = None,
                 max_parallel: Optional[int] = None,
                 poll_s: Optional[float] = None,
                 threads: Optional[int] = None):
        opts = dict(SLURM_DEFAULTS, **(slurm or {}))
        unknown = sorted(set(opts) - set(SLURM_DEFAULTS))
        if unknown:
            raise ValueError(f'unknown Slurm setting(s) {unknown}; known: '
                             f'{sorted(SLURM_DEFAULTS)}')
        if cluster not in ('slurm', 'local'):
            raise ValueError(f"cluster must be 'slurm' or 'local', got "
                             f'{cluster!r}')
        gpus = int(opts['gpus_per_node'] or 0) if cluster == 'slurm' else 0
        if threads is None:
            threads = int(opts['cpus_per_task']) if cluster == 'slurm' \
                else 1
        super().__init__('cuda' if gpus else 'cpu', threads)
        self.cluster = cluster
        self.shares_machine = cluster == 'local'
        self.folder = folder
        self.opts = opts
        self.max_parallel = max_parallel
        self.poll_s = poll_s if poll_s is not None else (
            15.0 if cluster == 'slurm' else 0.2)
        self._executor = None
        params = dict(name='trttt_benchmark',
                      timeout_min=int(opts['timeout_min']),
                      nodes=1, tasks_per_node=1)
        if cluster == 'slurm':
            from .units import ROOT
            extra = dict(opts['additional_parameters'] or {})
            for k in ('account', 'qos', 'constraint'):
                if opts[k]:
                    extra[k] = opts[k]
            params.update(
                gpus_per_node=gpus, cpus_per_task=int(opts['cpus_per_task']),
                mem_gb=opts['mem_gb'],
                slurm_partition=opts['partition'],
                slurm_array_parallelism=int(opts['array_parallelism']),
                slurm_additional_parameters=extra or None,
                slurm_setup=[f'export PYTHONPATH={ROOT}:$PYTHONPATH',
                             *opts['setup']])
        self._params = params
        if cluster == 'slurm':
            self.executor  # noqa: B018  (submitit checks for Slurm now)

    @property
    def executor(self):
        """submitit's executor (made on first use: it creates its
        folder)."""
        if self._executor is None:
            import submitit
            ex = submitit.AutoExecutor(folder=self.folder,
                                       cluster=self.cluster)
            ex.update_parameters(**self._params)
            self._executor = ex
        return self._executor

    def _submit(self, specs: Sequence[UnitSpec]) -> list:
        if len(specs) == 1:
            return [self.executor.submit(execute_unit, specs[0])]
        with self.executor.batch():
            jobs = [self.executor.submit(execute_unit, s) for s in specs]
        return jobs

    def _result(self, spec: UnitSpec, job) -> dict:
        """The job's record; a job that ended without one (killed, out of
        time or memory, an error outside the unit) is a failed record."""
        try:
            return job.result()
        except Exception as e:  # noqa: BLE001  (submitit's job errors)
            return dict(spec.meta, id=spec.rid, status='failed',
                        error=f'{self.name} job {job.job_id} ended without '
                        f'a result ({type(e).__name__}: {str(e)[-1500:]}); '
                        f'its logs: {job.paths.stdout} and '
                        f'{job.paths.stderr}')

    def run(self, specs: Sequence[UnitSpec], on_done: OnDone,
            parallel: Optional[int] = None) -> None:
        import time
        pending = list(specs)
        limit = parallel or self.max_parallel or len(pending) or 1
        running: list = []
        while pending or running:
            free = limit - len(running)
            if pending and free > 0:
                batch, pending = pending[:free], pending[free:]
                running += list(zip(batch, self._submit(batch)))
            finished = [(s, j) for s, j in running if j.done()]
            for s, j in finished:
                running.remove((s, j))
                on_done(s, self._result(s, j))
            if running and not finished:
                time.sleep(self.poll_s)

    @property
    def name(self) -> str:  # type: ignore[override]
        return 'slurm' if self.cluster == 'slurm' else 'submitit-local'

    def describe(self) -> str:
        o = self.opts
        if self.cluster == 'local':
            return (f'submitit-local: jobs in {self.folder}, '
                    f'{self.max_parallel or "all"} at a time; device cpu')
        return (f'slurm: partition {o["partition"] or "(default)"}, '
                f'{o["gpus_per_node"]} GPU(s), {o["cpus_per_task"]} CPU(s), '
                f'{o["mem_gb"]} GB, {o["timeout_min"]} min per unit; '
                f'{o["array_parallelism"]} at a time; jobs in '
                f'{self.folder}; device {self.device}')


def make_executor(name: str, jobs: int, threads: Optional[int], device: str,
                  work_dir: str, slurm: Optional[dict] = None,
                  folder: Optional[str] = None) -> UnitExecutor:
    """The executor called ``name`` (one of :data:`EXECUTORS`).

    Args:
        name: ``local``, ``slurm`` or ``submitit-local``.
        jobs: units at a time (``local``, ``submitit-local``).
        threads: torch threads per unit (``local``, ``submitit-local``).
        device: this machine's device (``local``).
        work_dir: the results folder (submitit's folder defaults to
            ``<work_dir>/submitit``).
        slurm: Slurm settings (``slurm``; :data:`SLURM_DEFAULTS` keys).
        folder: submitit's folder.

    Raises:
        SystemExit: an unknown name, or submitit is not installed.
    """
    if name == 'local':
        return LocalExecutor(jobs, device, threads)
    if name not in EXECUTORS:
        raise SystemExit(f'--executor {name!r}: expected one of '
                         f'{list(EXECUTORS)}')
    try:
        import submitit  # noqa: F401
    except ImportError:
        raise SystemExit(f'--executor {name} needs submitit: pip install '
                         'submitit') from None
    import os.path as osp
    folder = folder or osp.join(work_dir, 'submitit')
    if name == 'slurm':
        import shutil
        if shutil.which('srun') is None:
            raise SystemExit('--executor slurm: Slurm (srun) is not found on '
                             'this machine. Run the benchmark on a Slurm '
                             'login node, or use --executor local (or '
                             'submitit-local).')
        try:
            return SubmititExecutor(folder, 'slurm', slurm)
        except RuntimeError as e:  # submitit: no srun on this machine
            raise SystemExit(f'--executor slurm: {e} Run the benchmark on '
                             'a Slurm login node, or use --executor local '
                             '(or submitit-local).') from None
        except ValueError as e:
            raise SystemExit(f'executor.slurm: {e}') from None
    return SubmititExecutor(folder, 'local', max_parallel=jobs,
                            threads=threads)
