"""Every test-time hook at paper scale on one device: step time, its ratio to
a plain forward+backward and peak memory, with and without bf16 autocast.

    python tools/analysis/gpu_paper_scale.py [--device cuda] \\
        [--batch-size 8 --height 448 --width 576] [--steps 2] \\
        [--batches 3] [--repeats 5] [--amp both] [--hooks NAME ...] \\
        [--out-dir work_dirs/gpu_paper_scale] [--time-limit 450]

For each registered test-time hook, on the ResNet-50 model of its method's
paper config (:data:`HOOK_CONFIGS`: ``configs/trttt/t2n.py``,
``configs/baselines/<method>/t2n.py``; the head-less methods adapt the same
model without auxiliary heads) with random weights, on synthetic random
batches of NYUD-v2's size (``trttt_mm.utils.random_multitask_batch``), in
one process:

* **hook step**: the hook as ``tools/test.py`` runs it (``before_test``,
  then ``before_test_iter`` on ``--batches`` batches after one warm-up
  batch, ``--steps`` steps each, its guard and per-batch work included;
  ``reset='single_batch'`` becomes ``'online'`` so that every batch
  adapts); the time per step is the median batch time / steps;
* **objective step** and **plain forward+backward**:
  ``tools/analysis/benchmark_ttt_step.py``'s measurement (one step of the
  objective alone; the main branch + supervised losses + backward), median
  of ``--repeats`` after a warm-up;
* **peak memory** of each phase: the peak allocated memory on CUDA
  (``torch.cuda.max_memory_allocated`` after a reset), the process's maximum
  resident set on the CPU (it only grows);

each once in float32 and once under ``torch.autocast`` with bfloat16
(``--amp``). A hook that fails in a mode (e.g. an operator without a bf16
kernel) gets its error in that row and the run goes on. Source statistics a
method reads are filled from random batches. Results go to
``<out-dir>/gpu_paper_scale.json`` and ``.md`` (a table), rewritten after
every hook, so a run stopped by ``--time-limit`` keeps what it measured.

A smoke run on the CPU: ``--device cpu --height 64 --width 96
--batch-size 2 --steps 1``.
"""
import argparse
import contextlib
import importlib.util
import inspect
import itertools
import json
import os
import os.path as osp
import platform
import statistics
import subprocess
import sys
import time
from types import SimpleNamespace
from typing import Dict, List, Optional, Tuple

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
sys.path.insert(0, ROOT)

#: The paper-scale source model of each hook: ``(config, without aux
#: heads)``. The head-less methods adapt TR-TTT's model without its branch
#: (the source-only ResNet-50 of configs/_base_/methods/source_only.py).
HOOK_CONFIGS: Dict[str, Tuple[str, bool]] = {
    'TRTTTHook': ('configs/trttt/t2n.py', False),
    'NormStatsHook': ('configs/trttt/t2n.py', True),
    'TENTHook': ('configs/trttt/t2n.py', True),
    'TIPIHook': ('configs/trttt/t2n.py', True),
    'ActMADHook': ('configs/baselines/actmad/t2n.py', False),
    'TTTHook': ('configs/baselines/ttt/t2n.py', False),
    'TTTPlusPlusHook': ('configs/baselines/tttpp/t2n.py', False),
    'TTTFlowHook': ('configs/baselines/tttflow/t2n.py', False),
    'ClusT3Hook': ('configs/baselines/clust3/t2n.py', False),
    'NCTTTHook': ('configs/baselines/ncttt/t2n.py', False),
}
AMP_MODES = {'off': (False, ), 'on': (True, ), 'both': (False, True)}
_RUNS = itertools.count()


class ToolError(ValueError):
    """A bad argument (exit 1)."""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', default='cuda')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--height', type=int, default=448)
    parser.add_argument('--width', type=int, default=576)
    parser.add_argument('--steps', type=int, default=2,
                        help='steps per batch of each hook (NormStatsHook: '
                        'passes)')
    parser.add_argument('--batches', type=int, default=3,
                        help='timed batches of each hook (after a warm-up '
                        'batch)')
    parser.add_argument('--repeats', type=int, default=5,
                        help='repeats of the plain and objective steps')
    parser.add_argument('--amp', choices=sorted(AMP_MODES), default='both',
                        help='float32 (off), bf16 autocast (on) or both')
    parser.add_argument('--hooks', nargs='+', default=None,
                        help='only these hooks (default: every registered '
                        'test-time hook)')
    parser.add_argument('--out-dir', default='work_dirs/gpu_paper_scale')
    parser.add_argument('--time-limit', type=float, default=450.0,
                        help='seconds; no new hook is started after this '
                        '(the ones left are listed as not run)')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def check_args(args) -> None:
    for name, value in (('batch-size', args.batch_size),
                        ('height', args.height), ('width', args.width),
                        ('steps', args.steps), ('batches', args.batches),
                        ('repeats', args.repeats)):
        if value < 1:
            raise ToolError(f'--{name} must be >= 1, got {value}')
    if args.time_limit <= 0:
        raise ToolError(f'--time-limit must be > 0, got {args.time_limit}')
    if not (args.device == 'cpu' or args.device.startswith('cuda')):
        raise ToolError(f"--device must be 'cpu' or 'cuda[:i]', got "
                        f'{args.device!r}')
    if osp.exists(args.out_dir) and not osp.isdir(args.out_dir):
        raise ToolError(f'--out-dir {args.out_dir!r} is a file, not a folder')


def select_hooks(requested: Optional[List[str]], registered: List[str]
                 ) -> List[str]:
    """The hooks to run, in :data:`HOOK_CONFIGS` order.

    Raises:
        ToolError: a requested hook is not registered, or a registered hook
            has no paper-scale model here.
    """
    unmapped = [h for h in registered if h not in HOOK_CONFIGS]
    if requested is None:
        if unmapped:
            raise ToolError(
                f'registered hooks without a paper-scale model in '
                f'HOOK_CONFIGS: {unmapped}; add them there')
        requested = registered
    unknown = [h for h in requested if h not in registered]
    if unknown:
        raise ToolError(f'--hooks: {unknown} are not registered test-time '
                        f'hooks; registered: {registered}')
    unmapped = [h for h in requested if h not in HOOK_CONFIGS]
    if unmapped:
        raise ToolError(f'--hooks: {unmapped} have no paper-scale model in '
                        'HOOK_CONFIGS')
    return [h for h in HOOK_CONFIGS if h in requested]


def hook_overrides(cfg, name: str, steps: int) -> dict:
    """What the run changes in the hook's config defaults: its steps (or
    passes) per batch, and ``'single_batch'`` -> ``'online'``."""
    from mmseg.registry import HOOKS
    cls = HOOKS.get(name)
    params = inspect.signature(cls.__init__).parameters
    out = {'passes' if 'passes' in params else 'steps': steps}
    defaults = (cfg.get('ttt', {}) or {}).get(name, {}) or {}
    if defaults.get('reset') == 'single_batch':
        out['reset'] = 'online'
    return out


def _bench():
    key = 'trttt_tool_analysis_benchmark_ttt_step'
    if key not in sys.modules:
        path = osp.join(ROOT, 'tools', 'analysis', 'benchmark_ttt_step.py')
        spec = importlib.util.spec_from_file_location(key, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        sys.modules[key] = mod
    return sys.modules[key]


def _peak(device: str) -> float:
    import resource

    import torch
    if str(device).startswith('cuda'):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak(device: str) -> None:
    import torch
    if str(device).startswith('cuda'):
        torch.cuda.reset_peak_memory_stats()


def time_hook(model, cfg, name: str, overrides: dict, batches: List[dict],
              device: str) -> dict:
    """The hook as the test loop runs it: ``before_test``, one warm-up
    ``before_test_iter``, then one per timed batch; ``after_test``."""
    from mmengine.logging import MessageHub, MMLogger
    from trttt_mm.utils import sync
    bench = _bench()
    hook = bench.build_hook(cfg, name, overrides)
    tag = f'gpu_paper_scale_{os.getpid()}_{next(_RUNS)}'
    runner = SimpleNamespace(
        model=model, message_hub=MessageHub.get_instance(tag),
        logger=MMLogger.get_instance(tag, log_level='WARNING'))
    hook.before_test(runner)
    try:
        hook.before_test_iter(runner, 0, batches[0])  # warm-up
        sync(device)
        _reset_peak(device)
        times = []
        for i, batch in enumerate(batches[1:], 1):
            t = time.perf_counter()
            hook.before_test_iter(runner, i, batch)
            sync(device)
            times.append(time.perf_counter() - t)
        peak = _peak(device)
        skips = getattr(hook, 'nonfinite_skips', 0)
    finally:
        hook.after_test(runner)
    return dict(batch_s=statistics.median(times), batch_samples_s=times,
                peak_mib=peak, nonfinite_skips=skips)


def measure(model, cfg, name: str, overrides: dict, batches: List[dict],
            random_batch, args, amp: bool) -> dict:
    """One row: the hook step, the objective step and the plain
    forward+backward of ``name`` on ``model``, under bf16 autocast when
    ``amp``."""
    import torch
    bench = _bench()
    device = args.device
    ctx = torch.autocast(device_type=device.split(':')[0],
                         dtype=torch.bfloat16) if amp else \
        contextlib.nullcontext()
    with ctx:
        hooked = time_hook(model, cfg, name, overrides, batches, device)
        hook = bench.build_hook(cfg, name, overrides)
        bench.prepare_hook(hook, model, batches[0], random_batch)
        try:
            res = bench.time_plain_and_ttt(
                model, hook, batches[0],
                torch.Generator().manual_seed(args.seed), args.repeats,
                device)
        finally:
            hook.teardown(None, model)
            model.zero_grad(set_to_none=True)
    step = hooked['batch_s'] / args.steps
    return dict(
        plain_fwd_bwd_s=round(res['plain_s'], 5),
        hook_step_s=round(step, 5),
        hook_ratio=round(step / res['plain_s'], 3),
        objective_step_s=round(res['ttt_s'], 5),
        objective_ratio=round(res['ttt_s'] / res['plain_s'], 3),
        hook_batch_samples_s=[round(t, 5) for t in
                              hooked['batch_samples_s']],
        peak_mib_plain=round(res['plain_peak_mib'], 1),
        peak_mib_objective=round(res['ttt_peak_mib'], 1),
        peak_mib_hook=round(hooked['peak_mib'], 1),
        nonfinite_skips=hooked['nonfinite_skips'])


def run_hook(name: str, args) -> List[dict]:
    """Rows of one hook (one per AMP mode), its model built once."""
    import torch
    from mmengine.config import Config
    from mmseg.registry import MODELS
    from trttt_mm.utils import random_multitask_batch
    config, plain = HOOK_CONFIGS[name]
    cfg = Config.fromfile(osp.join(ROOT, config))
    if plain:
        cfg.model.aux_heads = None
    torch.manual_seed(args.seed)
    model = MODELS.build(cfg.model).to(args.device)
    ncls = model.decode_head.num_classes or 1
    g = torch.Generator().manual_seed(args.seed)

    def random_batch():
        return random_multitask_batch(args.batch_size, args.height,
                                      args.width, ncls, g)

    batches = [random_batch() for _ in range(1 + args.batches)]
    _bench().fill_source_stats(model, batches[0], random_batch)
    overrides = hook_overrides(cfg, name, args.steps)
    model_name = config + (' without aux heads' if plain else '')
    # every mode starts from the same weights and statistics (the objective
    # step has no guard: a step that blows up must not carry over)
    source = {k: v.detach().clone() for k, v in model.state_dict().items()}
    rows = []
    for amp in AMP_MODES[args.amp]:
        model.load_state_dict(source)
        row = dict(hook=name, model=model_name, amp='bf16' if amp else 'off',
                   overrides=overrides)
        t = time.perf_counter()
        try:
            row.update(measure(model, cfg, name, overrides, batches,
                               random_batch, args, amp))
        except Exception as e:  # noqa: BLE001 - recorded in the row
            row['error'] = f'{type(e).__name__}: {e}'[:500]
            model.zero_grad(set_to_none=True)
        row['wall_s'] = round(time.perf_counter() - t, 1)
        rows.append(row)
        if str(args.device).startswith('cuda'):
            torch.cuda.empty_cache()
    del model
    if str(args.device).startswith('cuda'):
        torch.cuda.empty_cache()
    return rows


def _git_commit() -> str:
    try:
        head = subprocess.run(['git', '-C', ROOT, 'rev-parse', 'HEAD'],
                              capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(['git', '-C', ROOT, 'status', '--porcelain',
                                '--untracked-files=no'],
                               capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        return f'unknown ({e})'
    if head.returncode != 0:
        return 'unknown (not a git work tree)'
    return head.stdout.strip() + (' (modified)' if dirty.stdout.strip()
                                  else '')


def markdown(result: dict) -> str:
    """The result as a markdown table (times in ms)."""
    meta = result['meta']
    mem = 'allocated' if str(meta['device']).startswith('cuda') else \
        'max RSS, cumulative'
    lines = [
        f"# Paper-scale test-time steps on {meta['device_name']}",
        '',
        f"batch {'x'.join(map(str, meta['batch']))}, {meta['steps']} "
        f"steps per batch over {meta['batches']} batches, plain and "
        f"objective steps: median of {meta['repeats']}; commit "
        f"{meta['commit']}; torch {meta['torch']}.",
        '',
        '| hook | AMP | plain fwd+bwd (ms) | hook step (ms) | ratio | '
        f'objective step (ms) | ratio | peak MiB ({mem}): plain / '
        'objective / hook | note |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- |']

    def ms(x):
        return f'{1000 * x:.1f}'

    for r in result['rows']:
        if 'error' in r:
            lines.append(f"| {r['hook']} | {r['amp']} | | | | | | | "
                         f"{r['error'].replace('|', '/')} |")
            continue
        note = (f"{r['nonfinite_skips']} non-finite skips (rolled back: "
                'the hook step is understated)'
                if r['nonfinite_skips'] else '')
        lines.append(
            f"| {r['hook']} | {r['amp']} | {ms(r['plain_fwd_bwd_s'])} | "
            f"{ms(r['hook_step_s'])} | {r['hook_ratio']:.2f}x | "
            f"{ms(r['objective_step_s'])} | {r['objective_ratio']:.2f}x | "
            f"{r['peak_mib_plain']:.0f} / {r['peak_mib_objective']:.0f} / "
            f"{r['peak_mib_hook']:.0f} | {note} |")
    for name in result.get('not_run', []):
        lines.append(f'| {name} | | | | | | | | not run (time limit) |')
    return '\n'.join(lines) + '\n'


def write(result: dict, out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    with open(osp.join(out_dir, 'gpu_paper_scale.json'), 'w') as f:
        json.dump(result, f, indent=1)
    with open(osp.join(out_dir, 'gpu_paper_scale.md'), 'w') as f:
        f.write(markdown(result))


def run(args) -> dict:
    """Measure every selected hook; write and return the result."""
    check_args(args)
    import torch
    from mmengine.registry import init_default_scope
    import trttt_mm  # noqa: F401
    from trttt_mm.engine.hooks import ttt_hook_names
    init_default_scope('mmseg')
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        raise ToolError(f'--device {args.device}: CUDA is not available '
                        '(--device cpu runs the smoke test)')
    hooks = select_hooks(args.hooks, ttt_hook_names())
    start = time.perf_counter()
    device_name = torch.cuda.get_device_name(args.device) \
        if args.device.startswith('cuda') else platform.processor() or 'CPU'
    result = dict(
        meta=dict(device=args.device, device_name=device_name,
                  torch=torch.__version__, cuda=torch.version.cuda,
                  threads=torch.get_num_threads(), commit=_git_commit(),
                  batch=[args.batch_size, 3, args.height, args.width],
                  steps=args.steps, batches=args.batches,
                  repeats=args.repeats, amp=args.amp, seed=args.seed),
        rows=[], not_run=[])
    for i, name in enumerate(hooks):
        if time.perf_counter() - start > args.time_limit:
            result['not_run'] = hooks[i:]
            break
        print(f'[gpu_paper_scale] {name} ...', file=sys.stderr, flush=True)
        result['rows'] += run_hook(name, args)
        result['meta']['wall_s'] = round(time.perf_counter() - start, 1)
        write(result, args.out_dir)
    result['meta']['wall_s'] = round(time.perf_counter() - start, 1)
    write(result, args.out_dir)
    return result


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        result = run(args)
    except ToolError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    print(markdown(result))
    print(f"written: {osp.join(args.out_dir, 'gpu_paper_scale.json')} and "
          '.md', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
