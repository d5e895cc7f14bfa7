"""The method benchmark: methods x seeds x shift families, one command.

    python tools/benchmark.py configs/benchmark/synth.py [--quick]
        [--work-dir DIR] [--seeds 0 1] [--families mixed] [--methods TRTTT]
        [--select-hparams] [--no-cost] [--jobs N] [--report-only]
        [--set KEY=VALUE ...]

For every shift family of the synthetic benchmark, every seed and every
method of the benchmark config it generates the data, trains the source
models each method needs (once per seed), evaluates them, runs each method
online on each family's target stream, optionally selects each method's
learning rate and steps on a validation target, measures each method's
step cost, and writes ``results.json``, ``report.md`` and
``fig3_<family>.png`` into the work dir. Finished units are skipped on the
next invocation; failed ones are retried.

The benchmark itself is the library ``trttt_mm.benchmark`` (one module per
concern: config, units, executors, runner, selection, protocols, report,
figures, cost); this is its command line. docs/benchmarks.md describes the
protocols and the output.
"""
import os.path as osp
import sys

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))
sys.path.insert(0, ROOT)

from trttt_mm.benchmark.cli import build_parser, main  # noqa: E402,F401

if __name__ == '__main__':
    sys.exit(main())
