"""The command line of ``tools/benchmark.py``: arguments, the device and
parallelism, and either a run or a report of earlier results."""
import argparse
import os
import os.path as osp
from typing import List, Optional

from .executors import EXECUTORS, make_executor
from .runner import Benchmark
from .spec import load_benchmark_config, parse_set_options
from .units import ROOT

DESCRIPTION = 'The method benchmark: methods x seeds x shift families, ' \
    'one command.'


def build_parser() -> argparse.ArgumentParser:
    """The benchmark's argument parser."""
    p = argparse.ArgumentParser(
        prog='tools/benchmark.py', description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config', help='benchmark config, e.g. '
                   'configs/benchmark/synth.py')
    p.add_argument('--quick', action='store_true',
                   help="merge the config's `quick` settings (one seed, one "
                   'family, short schedules)')
    p.add_argument('--work-dir', help='results folder (default: the '
                   "config's work_dir)")
    p.add_argument('--seeds', type=int, nargs='+', help='subset of seeds')
    p.add_argument('--families', nargs='+', help='subset of families')
    p.add_argument('--methods', nargs='+', help='subset of method labels')
    p.add_argument('--select-hparams', action='store_true',
                   help='also pick each method\'s learning rate and steps '
                   'on the validation target and run them on the test '
                   'target (the "selected" protocol)')
    p.add_argument('--no-cost', action='store_true',
                   help='skip the step-cost measurements')
    p.add_argument('--jobs', type=int, default=None,
                   help='parallel subprocesses (default: 1 with a GPU, '
                   'else the number of CPU cores, at most 2)')
    p.add_argument('--threads', type=int, default=None,
                   help='torch threads per subprocess (default: CPU cores / '
                   'jobs)')
    p.add_argument('--report-only', action='store_true',
                   help='rebuild report.md and the figures from '
                   'results.json, run nothing')
    p.add_argument('--set', nargs='+', action='append', default=[],
                   metavar='KEY=VALUE',
                   help='override benchmark settings, e.g. train.iters=100 '
                   '(values parsed as JSON when they can be; every --set '
                   'applies)')
    g = p.add_argument_group(
        'executor', 'where units run (default: the config\'s executor.type, '
        'else local); Slurm settings default to the config\'s '
        'executor.slurm')
    g.add_argument('--executor', choices=EXECUTORS, default=None,
                   help='local: subprocesses of this machine, --jobs at a '
                   'time; slurm: one Slurm job per unit through submitit '
                   '(a job array per stage); submitit-local: submitit\'s '
                   'local executor (the Slurm path on this machine)')
    g.add_argument('--partition', help='Slurm partition')
    g.add_argument('--gpus', type=int, help='GPUs per unit (Slurm)')
    g.add_argument('--cpus', type=int, help='CPUs per unit (Slurm; also '
                   'the torch threads of the unit)')
    g.add_argument('--mem', type=float, help='memory per unit in GB (Slurm)')
    g.add_argument('--time', type=int, help='time limit per unit in '
                   'minutes (Slurm)')
    g.add_argument('--submitit-dir', help='submitit\'s folder of job '
                   'scripts and logs (default: <work-dir>/submitit)')
    return p


def slurm_settings(cfg: dict, args: argparse.Namespace) -> dict:
    """The config's ``executor.slurm`` with the command line's over it."""
    slurm = dict((cfg.get('executor') or {}).get('slurm') or {})
    for arg, key in (('partition', 'partition'), ('gpus', 'gpus_per_node'),
                     ('cpus', 'cpus_per_task'), ('mem', 'mem_gb'),
                     ('time', 'timeout_min')):
        if getattr(args, arg) is not None:
            slurm[key] = getattr(args, arg)
    return slurm


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """The arguments; ``args.set`` holds the items of every ``--set``."""
    args = build_parser().parse_args(argv)
    args.set = [item for group in args.set for item in group]
    return args


def main(argv: Optional[List[str]] = None) -> int:
    """Run the benchmark (or ``--report-only``); returns the exit status.

    Raises:
        SystemExit: bad arguments or settings, nothing to benchmark, or no
            results to report (naming why); nothing is created then.
    """
    args = parse_args(argv)
    options = parse_set_options(args.set)
    cfg = load_benchmark_config(args.config, args.quick, options)
    from trttt_mm.datasets.synthetic.families import normalise_families
    try:
        families = list(normalise_families(args.families or cfg['families']))
    except ValueError as e:
        raise SystemExit(f'families: {e}') from None
    seeds = [int(s) for s in (args.seeds or cfg['seeds'])]
    labels = list(args.methods or cfg['methods'])
    bad = [m for m in labels if m not in cfg['methods']]
    if bad:
        raise SystemExit(f'--methods: unknown label(s) {bad}; the config '
                         f'has {list(cfg["methods"])}')
    import torch
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    cores = os.cpu_count() or 1
    jobs = args.jobs or (1 if device == 'cuda' else max(1, min(2, cores)))
    if jobs < 1:
        raise SystemExit(f'--jobs must be >= 1, got {jobs}')
    threads = args.threads or max(1, cores // jobs)
    work_dir = args.work_dir or cfg['work_dir']
    if not osp.isabs(work_dir):
        work_dir = osp.join(ROOT, work_dir)
    if args.report_only:
        bench = Benchmark(cfg, args.config, work_dir, jobs, threads,
                          args.select_hparams, not args.no_cost, device)
        bench.load_previous()
        bench.report(families, seeds, labels)
        print(f'report: {osp.join(bench.work_dir, "report.md")}')
        return 0
    name = args.executor or (cfg.get('executor') or {}).get('type', 'local')
    executor = make_executor(name, jobs, threads, device, work_dir,
                             slurm_settings(cfg, args), args.submitit_dir)
    bench = Benchmark(cfg, args.config, work_dir, jobs, threads,
                      args.select_hparams, not args.no_cost,
                      executor.device, executor)
    return bench.run(families, seeds, labels)
