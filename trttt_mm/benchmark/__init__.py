"""The method benchmark as a library: methods x seeds x shift families.

Modules, one concern each:

- :mod:`.spec`: the benchmark config (loading, ``--quick``/``--set``,
  validation, defaults);
- :mod:`.units`: cache keys, unit folders, ``done.json``;
- :mod:`.steps`: what a unit runs (subprocesses) and its record;
- :mod:`.executors`: where units run (this machine's pool, or Slurm through
  submitit);
- :mod:`.runner`: the stages of a benchmark and their units;
- :mod:`.store`: ``results.json``;
- :mod:`.selection`: hyper-parameter grids and the choice on the validation
  target;
- :mod:`.protocols`: the stream curve, the protocols, the paired
  comparison;
- :mod:`.report`, :mod:`.figures`, :mod:`.cost`, :mod:`.stats`: the tables,
  Fig. 3, the step cost, the summary statistics;
- :mod:`.cli`: the command line of ``tools/benchmark.py``.

Importing this package imports no torch or mm code; the modules import what
they need when they need it.
"""
from .protocols import PROTOCOLS, TASK_KEYS, TIE_POINTS  # noqa: F401
from .units import BENCHMARK_VERSION  # noqa: F401
