"""Executors: where the units of a stage run.

An executor takes the units of one stage (units that do not depend on each
other) and calls ``on_done(spec, record)`` in this process for each one as
it finishes, in whatever order they finish. :class:`LocalExecutor` runs them
as subprocesses of this machine, ``jobs`` at a time (the default)."""
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
    """
    name = 'abstract'

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
