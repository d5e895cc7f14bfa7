"""The benchmark's runner: plans the units of a benchmark config (data,
source models, evaluations, method runs, hyper-parameter grids, step costs),
skips the finished ones, hands the others to an executor stage by stage, and
records every result in ``results.json``.

Stages (each waits for the one before): trained sources; derived sources
(``from_source``); evaluations of the source models; method runs; with
``--select-hparams`` the validation grids, then the selected settings; the
step costs, one at a time."""
import os
import os.path as osp
import sys
import threading
import time
from typing import Dict, List, Optional, Sequence

from . import decomposition, selection
from .executors import LocalExecutor, UnitExecutor
from .report import ReportInput, build_report
from .steps import UnitSpec
from .store import ResultsStore
from .trees import cfg_value, flatten, get_dotted, merge, nested
from .units import (BENCHMARK_VERSION, ROOT, UnitKeys, read_done,
                    read_done_file, unit_digest, unit_key, write_json)
from .cost import cost_command


class Benchmark:
    """Plans and runs the units of work of one benchmark config.

    Args:
        cfg: the benchmark settings (:func:`~.spec.load_benchmark_config`).
        config_path: the config file as given (for the report).
        work_dir: the results folder.
        jobs: parallel units of the local executor.
        threads: torch threads per unit.
        select: run the hyper-parameter selection (the *selected*
            protocol).
        cost: measure the step costs (and ``cfg['cost']['enabled']``).
        device: ``cpu`` or ``cuda``.
        executor: where units run (default: :class:`LocalExecutor` with
            ``jobs``).
    """

    def __init__(self, cfg: dict, config_path: str, work_dir: str,
                 jobs: int, threads: Optional[int], select: bool,
                 cost: bool, device: str,
                 executor: Optional[UnitExecutor] = None):
        self.cfg = cfg
        self.config_path = config_path
        self.work_dir = osp.abspath(work_dir)
        self.jobs = jobs
        self.threads = threads
        self.select = select
        self.cost = cost and cfg['cost'].get('enabled', True)
        self.device = device
        self.executor = executor or LocalExecutor(jobs, device, threads)
        self.threads = self.executor.threads
        self.lock = threading.Lock()
        self.store = ResultsStore(self.work_dir)
        self.keys = UnitKeys(cfg, self.work_dir)
        # the statistics controls of the decomposition: the method's steps
        decomposition.resolve(cfg['methods'], self.keys.method_defaults)
        self.unavailable: Dict[str, str] = {}
        self.counter = [0, 0]
        self.t0 = time.time()
        self.py = sys.executable
        self.choices: Dict[tuple, dict] = {}

    @property
    def results(self) -> Dict[str, dict]:
        """Run id -> record, of this invocation (and of ``--report-only``'s
        ``results.json``)."""
        return self.store.results

    # ----------------------------------------------------------- helpers
    def log(self, msg: str) -> None:
        with self.lock:
            print(msg, flush=True)

    def config(self, path: str) -> dict:
        return self.keys.config(path)

    def method_defaults(self, label: str) -> dict:
        return self.keys.method_defaults(label)

    def record(self, rid: str, result: dict) -> None:
        with self.lock:
            self.store.record(rid, result)
            self.write_results()

    def write_results(self) -> None:
        self.store.write(
            dict(config=self.config_path, version=BENCHMARK_VERSION,
                 settings=self.cfg, device=self.device, jobs=self.jobs,
                 executor=self.executor.name,
                 select_hparams=self.select,
                 elapsed_s=round(time.time() - self.t0, 1)),
            self.unavailable,
            [dict(method=lab, family=f, **c)
             for (lab, f), c in sorted(self.choices.items())])

    def progress(self, rid: str, res: dict, cached: bool) -> None:
        with self.lock:
            self.counter[0] += 1
            k, n = self.counter
        el = time.time() - self.t0
        extra = ''
        if res.get('status') == 'done' and res.get('delta_ttt') is not None:
            extra = f"  Δ_TTT {res['delta_ttt']:+.2f} %"
        elif res.get('diverged'):
            extra = '  DIVERGED (non-finite predictions)'
        elif res.get('status') == 'failed':
            extra = f"  FAILED ({res.get('error', '')[:120]})"
        how = 'cached' if cached else f"{res.get('wall_s', 0):.0f}s"
        self.log(f'[{k:3d}/{n:3d}] {rid:55s} {how:>7s}{extra}   '
                 f'(elapsed {el / 60:.1f} min)')

    # ------------------------------------------------------------ units
    @staticmethod
    def keyed(spec: UnitSpec, res: dict) -> dict:
        """The record with its unit's key (``key``: the digest, ``key_data``:
        what it holds): the settings the run was made with."""
        return dict(res, key=spec.digest, key_data=unit_key(spec.key))

    def checkpoint_path(self, rec: dict) -> str:
        """A source record's checkpoint (recorded relative to the work dir;
        absolute in records of older versions)."""
        return osp.join(self.work_dir, rec['checkpoint'])

    def _usable_source(self, spec: UnitSpec, rec: dict) -> Optional[dict]:
        """A cached source record whose checkpoint is there (an absolute
        path of an older record that was moved with its work dir is found
        again under the unit's folder), else None (trained again)."""
        path = self.checkpoint_path(rec)
        if osp.isfile(path):
            return rec
        parts = rec['checkpoint'].split(os.sep)
        name = osp.basename(osp.normpath(spec.work))
        if osp.isabs(rec['checkpoint']) and name in parts:
            moved = osp.join(spec.work,
                             *parts[len(parts) - parts[::-1].index(name):])
            if osp.isfile(moved):
                return dict(rec, checkpoint=osp.relpath(moved,
                                                        self.work_dir))
        self.log(f'{spec.rid}: cached, but its checkpoint {path} is '
                 'missing: running it again')
        return None

    def run_units(self, specs: Sequence[UnitSpec],
                  parallel: Optional[int] = None) -> None:
        """Record the finished units (their ``done.json`` holds the same
        key), record the blocked ones as failed, and run the others through
        the executor."""
        todo = []
        for spec in specs:
            cached = read_done(spec.work, spec.key)
            if cached is not None and spec.kind == 'source':
                cached = self._usable_source(spec, cached)
            if cached is not None:
                cached = self.keyed(spec, cached)
                self.record(spec.rid, cached)
                self.progress(spec.rid, cached, True)
            elif spec.payload.get('blocked'):
                res = self.keyed(spec, dict(
                    spec.meta, id=spec.rid, status='failed',
                    error=spec.payload['blocked']))
                self.record(spec.rid, res)
                self.progress(spec.rid, res, False)
            else:
                todo.append(spec)
        self.executor.run(todo, self._finished, parallel)

    def _finished(self, spec: UnitSpec, res: dict) -> None:
        res = self.keyed(spec, res)
        self.record(spec.rid, res)
        self.progress(spec.rid, res, False)

    # ------------------------------------------------------ availability
    def check_methods(self, labels: Sequence[str]) -> List[str]:
        """The labels whose hook is registered and whose configs exist; the
        others go to :attr:`unavailable` with the reason."""
        import trttt_mm  # noqa: F401  (registers the hooks)
        from mmseg.registry import HOOKS

        from trttt_mm.engine.hooks import BaseTTTHook
        ok = []
        for label in labels:
            spec = self.cfg['methods'][label]
            cls = HOOKS.get(spec['hook'])
            why = None
            if cls is None or not (isinstance(cls, type) and
                                   issubclass(cls, BaseTTTHook)):
                why = (f'hook {spec["hook"]!r} is not a registered test-time '
                       'hook (not implemented yet?)')
            else:
                for path in self.keys.source_configs(spec['source']):
                    if not osp.isfile(osp.join(ROOT, path)):
                        why = f'source config {path} does not exist'
                        break
            if why:
                self.unavailable[label] = why
                self.log(f'not available: {label}: {why}')
            else:
                ok.append(label)
        return ok

    # ---------------------------------------------------------- options
    def data_options(self, which: str = 'test') -> List[str]:
        root = osp.join(self.keys.data_root(which), 'taskonomy')
        b = int(self.cfg['train']['batch_size'])
        tb = int(self.cfg['test']['batch_size'])
        return [f'train_dataloader.dataset.data_root={root}',
                f'val_dataloader.dataset.data_root={root}',
                f'train_dataloader.batch_size={b}',
                f'val_dataloader.batch_size={tb}']

    def schedule_options(self, config: str, iters: int) -> List[str]:
        cfg = self.config(config)
        opts = [f'train_cfg.max_iters={iters}',
                f'train_cfg.val_begin={iters + 1}',
                f'train_cfg.val_interval={iters}',
                f'default_hooks.checkpoint.interval={iters}']
        for i, s in enumerate(cfg.get('param_scheduler') or []):
            if s.get('by_epoch', False):
                raise SystemExit(f'{config}: param_scheduler.{i} is by '
                                 'epoch; the benchmark shortens iteration '
                                 'schedules only')
            if 'milestones' in s:
                raise SystemExit(f'{config}: param_scheduler.{i} has '
                                 'milestones; the benchmark cannot shorten '
                                 'it')
            opts.append(f'param_scheduler.{i}.end={iters}')
            if 'T_max' in s:
                opts.append(f'param_scheduler.{i}.T_max={iters}')
        return opts

    def test_options(self, family: Optional[str], seed: int,
                     which: str = 'test') -> List[str]:
        b = int(self.cfg['test']['batch_size'])
        opts = [f'randomness.seed={seed}']
        if family is None:  # the source validation split
            root = osp.join(self.keys.data_root(which), 'taskonomy')
            return opts + [f'val_dataloader.dataset.data_root={root}',
                           f'val_dataloader.batch_size={b}']
        return opts + [
            f'test_dataloader.dataset.data_root='
            f'{self.keys.family_root(family, which)}',
            f'test_dataloader.batch_size={b}'
        ]

    def _source_done(self, name: str, seed: int) -> Optional[dict]:
        src = self.results.get(self.keys.source_id(name, seed))
        return src if src and src.get('status') == 'done' else None

    # ------------------------------------------------------------ specs
    def source_spec(self, name: str, seed: int) -> UnitSpec:
        """The unit that trains (or derives) a source model."""
        spec = self.cfg['sources'][name]
        rid = self.keys.source_id(name, seed)
        work = self.keys.source_dir(name, seed)
        meta = dict(kind='source', source=name, seed=seed,
                    config=spec['config'])
        steps, blocked = [], None
        if spec.get('from_source'):
            parent = self._source_done(spec['from_source'], seed)
            ckpt = osp.join(work, 'source_stats.pth')
            if parent is None:
                blocked = (f'parent source {spec["from_source"]} (seed '
                           f'{seed}) is not trained')
            else:
                steps.append(dict(
                    step='source_stats', remove=ckpt,
                    log=osp.join(work, 'source_stats.log'),
                    cmd=[self.py, 'tools/analysis/source_stats.py',
                         spec['config'], self.checkpoint_path(parent),
                         '--out', ckpt,
                         '--cfg-options', *self.data_options()]))
        else:
            iters = int(self.cfg['train']['iters'])
            tw = osp.join(work, 'train')
            steps.append(dict(
                step='train', iters=iters, log=osp.join(work, 'train.log'),
                cmd=[self.py, 'tools/train.py', spec['config'],
                     '--work-dir', tw, '--cfg-options',
                     f'randomness.seed={seed}',
                     *self.schedule_options(spec['config'], iters),
                     *self.data_options()]))
            ckpt = osp.join(tw, f'iter_{iters}.pth')
        if spec.get('finetune'):
            ft = spec['finetune']
            iters = int(ft['iters'])
            fw = osp.join(work, 'finetune')
            steps.append(dict(
                step='finetune', iters=iters,
                log=osp.join(work, 'finetune.log'),
                cmd=[self.py, 'tools/train.py', ft['config'], '--work-dir',
                     fw, '--cfg-options', f'randomness.seed={seed}',
                     f'load_from={ckpt}',
                     *self.schedule_options(ft['config'], iters),
                     *self.data_options()]))
            ckpt = osp.join(fw, f'iter_{iters}.pth')
        payload = dict(info=meta, steps=steps, checkpoint=ckpt,
                       threads=self.threads, work_dir=self.work_dir)
        if blocked:
            payload['blocked'] = blocked
        return UnitSpec(rid, 'source', self.keys.source_key(name, seed),
                        work, meta, payload)

    def eval_spec(self, name: str, seed: int,
                  family: Optional[str]) -> UnitSpec:
        """The unit that evaluates a source model, not adapted, on the
        source validation split (``family=None``) or a family's target."""
        where = family or 'source_val'
        rid = self.keys.eval_id(name, seed, family)
        work = self.keys.eval_dir(name, seed, family)
        meta = dict(kind='eval', source=name, seed=seed, family=where)
        src = self._source_done(name, seed)
        payload = dict(info=meta, threads=self.threads)
        if src is None:
            payload['blocked'] = f'source {name} seed {seed} not trained'
        else:
            config = self.cfg['sources'][name]['config']
            out = osp.join(work, 'metrics.json')
            cmd = [self.py, 'tools/test.py', config,
                   self.checkpoint_path(src),
                   '--work-dir', work, '--metrics-out', out]
            if family is None:
                cmd += ['--split', 'val']
            cmd += ['--cfg-options', *self.test_options(family, seed)]
            payload.update(cmd=cmd, log=osp.join(work, 'test.log'),
                           metrics_out=out)
        return UnitSpec(rid, 'eval', self.keys.eval_key(name, seed, family),
                        work, meta, payload)

    def method_spec(self, label: str, seed: int, family: str,
                    overrides: Optional[dict] = None, which: str = 'test',
                    kind: str = 'test', tag: str = '') -> UnitSpec:
        """The unit that runs a method online on a family's target stream
        (``which='val'``: the validation target)."""
        spec = self.cfg['methods'][label]
        src_name = spec['source']
        rid = self.keys.method_id(label, seed, family, kind, tag)
        work = self.keys.method_dir(label, seed, family, kind, tag)
        meta = dict(id=rid, kind=kind, method=label, hook=spec['hook'],
                    source=src_name, seed=seed, family=family, which=which)
        over = self.keys.method_overrides(label, overrides)
        key = self.keys.method_key(label, seed, family, overrides, which)
        src = self._source_done(src_name, seed)
        payload = dict(info=meta, threads=self.threads)
        if src is None:
            payload['blocked'] = (f'source {src_name} seed {seed} not '
                                  'trained')
            return UnitSpec(rid, 'test', key, work, meta, payload)
        config = self.cfg['sources'][src_name]['config']
        hook = spec['hook']
        out = osp.join(work, 'metrics.json')
        opts = self.test_options(family, seed, which) + [
            f'ttt.{hook}.seed={seed}',
            'ttt.TTTMonitorHook.eval_source=True',
            'ttt.TTTMonitorHook.curve=True'
        ] + [f'ttt.{hook}.{k}={cfg_value(v)}'
             for k, v in flatten(over).items()]
        passes = get_dotted(merge(self.method_defaults(label), over),
                            spec.get('steps_key') or 'steps')
        payload.update(
            cmd=[self.py, 'tools/test.py', config,
                 self.checkpoint_path(src),
                 '--tta-hook', hook, '--work-dir', work, '--metrics-out',
                 out, '--cfg-options', *opts],
            log=osp.join(work, 'test.log'), metrics_out=out,
            curve=osp.join(work, 'ttt_curve.json'), overrides=over,
            passes=passes if isinstance(passes, int) else None,
            batch_size=int(self.cfg['test']['batch_size']),
            num_images=self.keys.num_images(which),
            min_fraction=self.cfg['best_step']['min_fraction'])
        return UnitSpec(rid, 'test', key, work, meta, payload)

    def cost_spec(self, label: str) -> UnitSpec:
        """The unit that measures a method's step cost."""
        spec = self.cfg['methods'][label]
        config = self.cfg['sources'][spec['source']]['config']
        rid = f'cost/{label}'
        work = self.keys.cost_dir(label)
        d = self.cfg['data']
        meta = dict(kind='cost', method=label, hook=spec['hook'])
        # alone on this machine's CPU: every core
        threads = os.cpu_count() if self.device == 'cpu' and \
            self.executor.shares_machine else None
        payload = dict(
            info=meta, log=osp.join(work, 'cost.log'),
            threads=threads or self.threads,
            cmd=cost_command(self.py, config, spec['hook'],
                             int(self.cfg['test']['batch_size']),
                             d['height'], d['width'],
                             self.cfg['cost']['repeats']))
        return UnitSpec(rid, 'cost', self.keys.cost_key(label, self.device),
                        work, meta, payload)

    # ---------------------------------------------------------- hparams
    def grid(self, label: str) -> List[dict]:
        """The method's grid (:func:`~.selection.grid`)."""
        return selection.grid(self.cfg['methods'][label],
                              self.method_defaults(label),
                              self.cfg['hparam_selection'])

    def selection_seeds(self, seeds: Sequence[int]) -> List[int]:
        return selection.selection_seeds(
            self.cfg['hparam_selection'].get('seeds', 'first'), seeds)

    def is_default(self, label: str, combo: dict) -> bool:
        return selection.is_default(self.method_defaults(label), combo)

    def select_hparams(self, families: Sequence[str], seeds: Sequence[int],
                       labels: Sequence[str], grids: Dict[str, list]) -> None:
        """Grids on the validation target (the selection seeds' sources),
        the best mean final Δ_TTT per (method, family), then that setting on
        the test target for every seed. A selected setting equal to the
        method's default reuses its test run."""
        sel_seeds = self.selection_seeds(seeds)
        self.run_units([
            self.method_spec(lab, seed, f, nested(c), 'val', 'val',
                             selection.tag(c))
            for lab in labels for c in grids[lab] for f in families
            for seed in sel_seeds
        ])
        items = []
        self.choices.update(self.compute_choices(families, seeds, labels,
                                                 grids, self.results))
        for lab in labels:
            for f in families:
                spec = self.cfg['methods'][lab]
                variant = spec.get('variant')
                if variant and variant.get('generated'):
                    # a decomposition variant follows its method's choice
                    parent = self.choices.get((variant['of'], f))
                    if parent is None:
                        continue
                    best = decomposition.variant_setting(
                        variant['part'], self.cfg['methods'][variant['of']],
                        self.method_defaults(variant['of']),
                        parent['setting'])
                    choice = dict(setting=best, tag=selection.tag(best),
                                  default=self.is_default(lab, best))
                elif (lab, f) in self.choices:
                    choice = self.choices[(lab, f)]
                    best = choice['setting']
                else:
                    continue
                for seed in seeds:
                    if choice['default']:
                        test = self.results.get(
                            self.keys.method_id(lab, seed, f))
                        rid = self.keys.method_id(lab, seed, f, 'selected',
                                                  choice['tag'])
                        if test and test.get('status') == 'done':
                            # the key of the selected setting's unit
                            rec = self.keyed(self.method_spec(
                                lab, seed, f, nested(best), 'test',
                                'selected', choice['tag']), dict(
                                    test, id=rid, kind='selected',
                                    reused=test['id']))
                            self.record(rid, rec)
                            self.progress(rid, rec, True)
                            continue
                    items.append(self.method_spec(
                        lab, seed, f, nested(best), 'test', 'selected',
                        choice['tag']))
        self.run_units(items)

    def compute_choices(self, families: Sequence[str], seeds: Sequence[int],
                        labels: Sequence[str], grids: Dict[str, list],
                        results: Dict[str, dict]) -> Dict[tuple, dict]:
        """(method, family) -> the setting chosen from the validation runs
        among ``results`` (:func:`~.selection.choose`)."""
        sel_seeds = self.selection_seeds(seeds)
        choices = {}
        for lab in labels:
            defaults = self.method_defaults(lab)
            for f in families:
                deltas: Dict[str, list] = {}
                diverged = []
                for c in grids[lab]:
                    t = selection.tag(c)
                    vals = [results.get(
                        self.keys.method_id(lab, seed, f, 'val', t))
                        for seed in sel_seeds]
                    done = [v for v in vals if v and v.get('status') == 'done']
                    deltas[t] = [v['delta_ttt'] for v in done
                                 if not v.get('diverged')]
                    if any(v.get('diverged') for v in done):
                        diverged.append(c)
                choice = selection.choose(selection.score_grid(
                    grids[lab], deltas, len(sel_seeds)), defaults,
                    diverged)
                if choice is not None:
                    choices[(lab, f)] = choice
        return choices

    # ------------------------------------------------------------- plan
    def generate_data(self) -> None:
        """The benchmark data (every family; cached by the generator)."""
        from trttt_mm.datasets.synthetic import generate_benchmark
        d = self.cfg['data']
        counts = dict(num_train=d['num_train'], num_val=d['num_val'],
                      num_target_train=d['num_target_train'],
                      num_target_val=d['num_target_val'],
                      height=d['height'], width=d['width'],
                      images_per_building=d['images_per_building'])
        self.log(f'data: {self.keys.data_root()} (all shift families)')
        try:
            generate_benchmark(self.keys.data_root(), seed=d['seed'],
                               layouts=('taskonomy', 'nyudv2'),
                               families='all', progress=False, **counts)
            if self.select:
                self.log(f'validation data: {self.keys.data_root("val")}')
                generate_benchmark(
                    self.keys.data_root('val'),
                    seed=d.get('val_seed', 1000), layouts=('nyudv2', ),
                    families='all', progress=False,
                    **dict(counts,
                           num_target_val=self.keys.num_images('val')))
        except (FileExistsError, ValueError) as e:
            raise SystemExit(f'benchmark data: {e}') from None

    def sources_of(self, labels: Sequence[str]) -> List[str]:
        """The source models the methods need (parents first), and the
        source-only model."""
        sources = []
        for label in labels:
            s = self.cfg['methods'][label]['source']
            chain = [s]
            if self.cfg['sources'][s].get('from_source'):
                chain.insert(0, self.cfg['sources'][s]['from_source'])
            for c in chain:
                if c not in sources:
                    sources.append(c)
        return sources

    def run(self, families: Sequence[str], seeds: Sequence[int],
            labels: Sequence[str]) -> int:
        """Run every unit of ``labels`` x ``seeds`` x ``families`` that has
        not finished, write ``results.json`` and the report.

        Returns:
            The exit status: 1 when a unit other than a step-cost
            measurement failed, else 0.
        """
        labels = self.check_methods(labels)
        if not labels:
            raise SystemExit(
                'nothing to benchmark: every method asked for is not '
                'available: ' + '; '.join(f'{k}: {v}' for k, v in
                                          self.unavailable.items()))
        self.generate_data()
        sources = self.sources_of(labels)
        so = self.cfg.get('source_only')
        if so and so not in sources:
            if all(osp.isfile(osp.join(ROOT, p))
                   for p in self.keys.source_configs(so)):
                sources.insert(0, so)
            else:
                so = None
        trained = [s for s in sources
                   if not self.cfg['sources'][s].get('from_source')]
        derived = [s for s in sources if s not in trained]
        grids = {lab: self.grid(lab) for lab in labels} if self.select \
            else {}
        val_eval = bool(self.cfg.get('eval_source_val', True))
        n = (len(sources) * len(seeds) * (1 + val_eval)  # train (+ val)
             + (len(families) * len(seeds) if so else 0)
             + len(labels) * len(seeds) * len(families)
             + (len(labels) if self.cost else 0)
             + sum(len(g) * len(self.selection_seeds(seeds)) + len(seeds)
                   for g in grids.values()) * len(families))
        self.counter = [0, n]
        self.log(f'{len(labels)} method(s) x {len(seeds)} seed(s) x '
                 f'{len(families)} famil(ies); {len(sources)} source '
                 f'model(s); {n} units; {self.executor.describe()}')
        self.run_units([self.source_spec(s, seed) for s in trained
                        for seed in seeds])
        self.run_units([self.source_spec(s, seed) for s in derived
                        for seed in seeds])
        evals = [(s, seed, None) for s in sources for seed in seeds] \
            if val_eval else []
        if so:
            evals += [(so, seed, f) for f in families for seed in seeds]
        self.run_units([self.eval_spec(*e) for e in evals])
        self.run_units([self.method_spec(lab, seed, f) for lab in labels
                        for f in families for seed in seeds])
        if self.select:
            self.select_hparams(families, seeds, labels, grids)
        if self.cost:
            # alone (on a shared machine): timings are not disturbed by
            # other jobs
            # (a generated decomposition variant costs what its hook does)
            self.run_units([self.cost_spec(lab) for lab in labels
                            if not decomposition.generated(
                                self.cfg['methods'], lab)],
                           parallel=1 if self.executor.shares_machine
                           else None)
        self.write_results()
        self.report(families, seeds, labels)
        failed = [r['id'] for r in self.results.values()
                  if r.get('status') == 'failed']
        if failed:
            self.log(f'{len(failed)} unit(s) failed (retried on the next '
                     f'invocation): {failed[:10]}')
        self.log(f'benchmark finished in {(time.time() - self.t0) / 60:.1f}'
                 f' min; results in {self.work_dir}')
        # a step-cost measurement that fails leaves a gap in the cost table
        # (reported), not in the results: the exit status ignores it
        return 1 if any(not f.startswith('cost/') for f in failed) else 0

    # ----------------------------------------------------------- report
    def load_previous(self) -> None:
        """The records of earlier invocations (``--report-only``).

        Raises:
            SystemExit: there is no ``results.json`` (nothing is created).
        """
        if not osp.isfile(osp.join(self.work_dir, 'results.json')):
            raise SystemExit(f'--report-only: no results.json in '
                             f'{self.work_dir} (nothing to report; run the '
                             'benchmark first)')
        data = self.store.load()
        if not data or not data.get('runs'):
            raise SystemExit(f'--report-only: results.json in '
                             f'{self.work_dir} holds no runs')
        self.unavailable.update(data.get('unavailable', {}))

    def report_sources(self, labels: Sequence[str]) -> List[str]:
        """The source models of ``labels`` and the source-only model."""
        sources = self.sources_of(labels)
        so = self.cfg.get('source_only')
        if so and so not in sources and all(
                osp.isfile(osp.join(ROOT, p))
                for p in self.keys.source_configs(so)):
            sources.insert(0, so)
        return sources

    def expected_units(self, families: Sequence[str], seeds: Sequence[int],
                       labels: Sequence[str], grids: Dict[str, list]
                       ) -> Dict[str, tuple]:
        """Run id -> (key, folder) of every unit these settings give for
        ``labels`` x ``seeds`` x ``families`` (but the selected runs:
        :meth:`selected_units`)."""
        k = self.keys
        exp: Dict[str, tuple] = {}
        sources = self.report_sources(labels)
        so = self.cfg.get('source_only')
        for s in sources:
            for seed in seeds:
                exp[k.source_id(s, seed)] = (k.source_key(s, seed),
                                             k.source_dir(s, seed))
                exp[k.eval_id(s, seed, None)] = (k.eval_key(s, seed, None),
                                                 k.eval_dir(s, seed, None))
                if s == so:
                    for f in families:
                        exp[k.eval_id(s, seed, f)] = (
                            k.eval_key(s, seed, f), k.eval_dir(s, seed, f))
        for lab in labels:
            exp[f'cost/{lab}'] = (k.cost_key(lab, self.device),
                                  k.cost_dir(lab))
            for f in families:
                for seed in seeds:
                    exp[k.method_id(lab, seed, f)] = (
                        k.method_key(lab, seed, f), k.method_dir(lab, seed, f))
                for c in grids.get(lab, []):
                    t = selection.tag(c)
                    for seed in self.selection_seeds(seeds):
                        exp[k.method_id(lab, seed, f, 'val', t)] = (
                            k.method_key(lab, seed, f, nested(c), 'val'),
                            k.method_dir(lab, seed, f, 'val', t))
        return exp

    def selected_units(self, families: Sequence[str], seeds: Sequence[int],
                       labels: Sequence[str], choices: Dict[tuple, dict]
                       ) -> Dict[str, Optional[tuple]]:
        """Run id -> (key, folder) of the selected runs among the records:
        the key of the setting each one ran (its overrides) under these
        settings; None for a run of another setting than the one the
        validation runs of these settings select (``choices``)."""
        k = self.keys
        exp: Dict[str, Optional[tuple]] = {}
        for rid, rec in self.results.items():
            lab, f, seed = rec.get('method'), rec.get('family'), \
                rec.get('seed')
            if rec.get('kind') != 'selected' or lab not in labels or \
                    f not in families or seed not in seeds:
                continue
            tag = rid.split('/')[-1]
            ch = choices.get((lab, f))
            if ch is not None and ch['tag'] != tag:
                exp[rid] = None
                continue
            over = (rec.get('key_data') or {}).get('overrides',
                                                   rec.get('overrides'))
            exp[rid] = (k.method_key(lab, seed, f, over),
                        k.method_dir(lab, seed, f, 'selected', tag))
        return exp

    @staticmethod
    def settings_diff(rec: dict, key: dict) -> List[str]:
        """How the settings a run was made with differ from ``key``."""
        if not isinstance(rec.get('key_data'), dict):
            return ['recorded without its settings (by an older version of '
                    'the benchmark) and its done.json is not of these '
                    'settings']
        have, want = flatten(rec['key_data']), flatten(unit_key(key))
        diffs = [f'`{k}`: {have.get(k, "—")} (this report: '
                 f'{want.get(k, "—")})' for k in sorted(set(have) | set(want))
                 if have.get(k) != want.get(k)]
        return diffs[:6] + ([f'... {len(diffs) - 6} more'] if len(diffs) > 6
                            else [])

    def partition(self, expected: Dict[str, Optional[tuple]],
                  current: Dict[str, dict]) -> List[tuple]:
        """Add to ``current`` the records of :attr:`results` made with the
        settings ``expected`` gives (their key matches); return (run id,
        differences) of the others. A record of an older version (no key)
        takes its unit's done.json key when it is that record; an older
        failed record, which has none, is kept (it only lists a failure);
        an older reused selected run follows the run it reuses."""
        left = []
        for rid, rec in self.results.items():
            if rid not in expected:
                continue
            if expected[rid] is None:
                left.append((rid, ['another setting than the one the '
                                   'validation runs of these settings '
                                   'select']))
                continue
            key, work = expected[rid]
            if 'key' not in rec:
                done = read_done_file(work)
                if done is not None and done['result'] == rec:
                    rec = dict(rec, key=done['key'],
                               key_data=done.get('key_data'))
                elif rec.get('status') == 'failed' or (
                        rec.get('reused') and rec['reused'] in current):
                    current[rid] = rec
                    continue
            if rec.get('key') == unit_digest(key):
                current[rid] = rec
            else:
                left.append((rid, self.settings_diff(rec, key)))
        return left

    def report(self, families: Sequence[str], seeds: Sequence[int],
               labels: Sequence[str]) -> str:
        """Write ``report.md`` (and the figures) from the records made with
        this benchmark's settings (the others are named, not used); returns
        its text."""
        ok = [lab for lab in labels if lab not in self.unavailable and all(
            osp.isfile(osp.join(ROOT, p)) for p in self.keys.source_configs(
                self.cfg['methods'][lab]['source']))]
        grids = {lab: self.grid(lab) for lab in ok}
        current: Dict[str, dict] = {}
        left = self.partition(
            self.expected_units(families, seeds, ok, grids), current)
        has_val = any(r.get('kind') == 'val' for r in current.values())
        choices = self.compute_choices(families, seeds, ok, grids, current) \
            if self.select or has_val else {}
        left += self.partition(self.selected_units(
            families, seeds, ok, choices), current)
        order = {rid: i for i, rid in enumerate(self.results)}
        current = dict(sorted(current.items(), key=lambda x: order[x[0]]))
        text = build_report(ReportInput(
            config_path=self.config_path, cfg=self.cfg, device=self.device,
            results=current, families=families, seeds=seeds,
            labels=labels, unavailable=self.unavailable,
            choices=choices, select=self.select or bool(choices),
            selection_seeds=(self.selection_seeds(self.cfg['seeds'])
                             if choices else []),
            work_dir=self.work_dir, sources=self.report_sources(ok),
            left_out=sorted(left)))
        with open(osp.join(self.work_dir, 'report.md'), 'w') as fh:
            fh.write(text)
        return text


__all__ = ['Benchmark', 'write_json']
