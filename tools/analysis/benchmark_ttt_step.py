"""Cost of one test-time-training step against a plain forward+backward.

``python tools/analysis/benchmark_ttt_step.py CONFIG [--hook TRTTTHook]
[--batch-size 8] [--height 96 --width 128] [--repeats 10]``

Measures on the same model and the same random batch (median of repeats):
- plain: the main branch forward + the supervised main loss + backward
  (what one training step of the deployed model costs),
- ttt: one step of the hook's objective (its forward through the needed
  branches, loss, backward, optimizer step), exactly as the hook runs it,
and reports the ratio, the operation count of each step (independent of the
machine's load: the floor that removing overhead alone can reach), the peak
resident memory of each phase (CPU: max RSS growth; CUDA: max allocated) and the parameter overhead of the TR-TTT
branches (projection + TRL) over the base model. Prints one JSON object.

The parts are functions that other tools reuse
(``tools/analysis/gpu_paper_scale.py``, ``compare_released_step.py``):
:func:`build_hook`, :func:`prepare_hook`, :func:`make_steps`,
:func:`timed`, :func:`time_plain_and_ttt` and :func:`param_counts`.
"""
import argparse
import json
import os.path as osp
import resource
import sys
from typing import Callable, Optional, Tuple

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
sys.path.insert(0, ROOT)


def count(module):
    return sum(p.numel() for p in module.parameters()) if module else 0


def param_counts(model) -> Tuple[int, int]:
    """``(base, aux_heads)``: parameters of backbone + neck + decode head,
    and of the auxiliary heads."""
    base = count(model.backbone) + count(model.neck) + count(model.decode_head)
    return base, count(model.aux_heads)


def build_hook(cfg, hook_name: str, overrides: Optional[dict] = None):
    """The hook ``hook_name`` with the config's defaults (``cfg.ttt``) and
    ``overrides`` on top."""
    from mmseg.registry import HOOKS
    hook_cfg = dict(type=hook_name)
    hook_cfg.update((cfg.get('ttt', {}) or {}).get(hook_name, {}))
    hook_cfg.update(overrides or {})
    return HOOKS.build(hook_cfg)


def fill_source_stats(model, batch: dict,
                      random_batch: Callable[[], dict]) -> None:
    """Source statistics a method reads (e.g. ActMAD's), filled from random
    batches when the model has none: enough to time the step. A head that
    needs more samples than one batch (TTT++'s chunks) gets as many
    distinct batches as it asks for."""
    from trttt_mm.engine.hooks import collect_source_stats
    n = len(batch['inputs'])
    empty = [k for k, m in model.aux_heads.items()
             if getattr(m, 'has_source_stats', False) and not m.stats_ready()]
    if empty:
        need = max(model.aux_heads[k].stats_min_samples for k in empty)
        extra = [random_batch() for _ in range(-(-need // n) - 1)]
        collect_source_stats(model, [batch] + extra, empty)


def prepare_hook(hook, model, batch: dict,
                 random_batch: Callable[[], dict]) -> None:
    """The hook's own mechanics on ``model``, without a Runner: its head,
    the source statistics it reads, its setup, parameters and optimizer
    (``BaseTTTHook.before_test`` without the source snapshot). Undo with
    ``hook.teardown(None, model)``."""
    hook.model = model
    hook.head_name = hook._resolve_head(model)
    fill_source_stats(model, batch, random_batch)
    hook.setup(None, model)  # the method's own configuration of the model
    hook._params = hook._select_params(model)
    hook.optimizer = hook._build_optimizer(model)


def make_steps(model, hook, batch: dict, generator
               ) -> Tuple[Callable[[], None], Callable[[], None]]:
    """``(plain_step, ttt_step)`` on the same preprocessed batch.

    ``plain_step``: the main branch forward + the supervised main losses +
    backward. ``ttt_step``: one step of the hook's objective as the hook runs
    it (loss, backward, optimizer step; for a statistics-only hook its
    passes), without the hook's per-batch bookkeeping and guard. Both start
    from the preprocessed batch on the device; neither sets the mode of the
    norm layers (the caller does, see :func:`main`)."""
    from trttt_mm.tasks import stack_gts

    def forward(x, branches, mask=None, generator=None):
        return model(x, None, mode='branches', branches=branches, mask=mask,
                     generator=generator)

    data_train = model.data_preprocessor(batch, True)
    gts = stack_gts(data_train['data_samples'], model.tasks)

    def plain_step():
        out = model.forward_branches(data_train['inputs'], ('main', ))
        loss = sum(model.decode_head.loss_by_task(out['main'], gts).values())
        model.zero_grad(set_to_none=True)
        loss.backward()

    data_eval = model.data_preprocessor(batch, False)

    def ttt_step():
        if hook.optimizer is None:  # statistics only (NormStatsHook)
            hook.statistics_passes(
                lambda x: forward(x, ('main', )), model, data_eval['inputs'])
            return
        losses = hook.ttt_loss(forward, data_eval['inputs'],
                               data_eval['data_samples'], generator)
        loss = sum(losses.values()) * hook.loss_scale
        hook.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        hook.optimizer.step()

    return plain_step, ttt_step


def timed(fn: Callable[[], object], repeats: int, device: str
          ) -> Tuple[float, float, float]:
    """``(median seconds, peak MiB, RSS MiB before)`` of ``repeats`` calls of
    ``fn`` after one warm-up call. The peak is the maximum allocated memory
    since the warm-up on CUDA, the process's maximum resident set (which
    only grows) on the CPU."""
    import torch
    from trttt_mm.utils import median_seconds
    from trttt_mm.utils import sync as sync_device
    fn()  # warm-up
    sync_device(device)
    if str(device).startswith('cuda'):
        torch.cuda.reset_peak_memory_stats()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = median_seconds(fn, repeats, device, warmup=False)
    if str(device).startswith('cuda'):
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return t, peak, rss0 / 1024


def time_plain_and_ttt(model, hook, batch: dict, generator, repeats: int,
                       device: str) -> dict:
    """Median seconds and peak memory (see :func:`timed`) of the plain
    forward+backward (the model in training mode) and of the hook's
    objective step (the norm layers in the hook's mode), from
    :func:`make_steps` on ``batch``."""
    plain_step, ttt_step = make_steps(model, hook, batch, generator)
    model.train()
    hook._set_mode(model, 'train')
    plain_t, plain_peak, _ = timed(plain_step, repeats, device)
    hook._set_mode(model, hook.norm_mode)
    ttt_t, ttt_peak, _ = timed(ttt_step, repeats, device)
    return dict(plain_s=plain_t, plain_peak_mib=plain_peak, ttt_s=ttt_t,
                ttt_peak_mib=ttt_peak)


def count_flops(model, hook, batch: dict, generator) -> Tuple[int, int]:
    """``(plain, ttt)`` floating-point operations of one call of each step
    of :func:`make_steps` (torch's ``FlopCounterMode``: matrix products,
    convolutions and attention, forward and backward). Unlike a time, the
    count does not depend on the machine's load: the ratio is the floor a
    step can reach by removing overhead alone, without changing the
    method's arithmetic. Leaves the model's weights changed by one step."""
    from torch.utils.flop_counter import FlopCounterMode
    plain_step, ttt_step = make_steps(model, hook, batch, generator)
    counts = []
    for fn, mode in ((plain_step, 'train'), (ttt_step, hook.norm_mode)):
        model.train()
        hook._set_mode(model, mode)
        counter = FlopCounterMode(display=False)
        with counter:
            fn()
        counts.append(int(counter.get_total_flops()))
    return counts[0], counts[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config')
    parser.add_argument('--hook', default='TRTTTHook')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--height', type=int, default=96)
    parser.add_argument('--width', type=int, default=128)
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--device', default=None)
    args = parser.parse_args(argv)

    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import trttt_mm  # noqa: F401
    from mmseg.registry import MODELS
    from trttt_mm.utils import random_multitask_batch
    init_default_scope('mmseg')
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    cfg = Config.fromfile(args.config)
    model = MODELS.build(cfg.model).to(device)
    hook = build_hook(cfg, args.hook)

    g = torch.Generator().manual_seed(0)
    h, w, n = args.height, args.width, args.batch_size
    ncls = model.decode_head.num_classes or 1

    def random_batch():
        return random_multitask_batch(n, h, w, ncls, g)

    batch = random_batch()
    prepare_hook(hook, model, batch, random_batch)
    gen = torch.Generator().manual_seed(0)
    res = time_plain_and_ttt(model, hook, batch, gen, args.repeats, device)
    plain_t, plain_peak = res['plain_s'], res['plain_peak_mib']
    ttt_t, ttt_peak = res['ttt_s'], res['ttt_peak_mib']
    base, extra = param_counts(model)
    flops_plain, flops_ttt = count_flops(
        model, hook, batch, torch.Generator().manual_seed(0))
    result = dict(
        config=args.config, hook=args.hook, device=device,
        batch=[n, 3, h, w], repeats=args.repeats,
        threads=torch.get_num_threads(),
        plain_fwd_bwd_s=round(plain_t, 4), ttt_step_s=round(ttt_t, 4),
        ratio=round(ttt_t / plain_t, 3),
        flops_plain=flops_plain, flops_ttt=flops_ttt,
        flop_ratio=round(flops_ttt / max(flops_plain, 1), 3),
        peak_mem_mib_plain=round(plain_peak, 1),
        peak_mem_mib_after_ttt=round(ttt_peak, 1),
        params_base=base, params_aux_heads=extra,
        param_overhead_pct=round(100.0 * extra / max(base, 1), 2))
    print(json.dumps(result, indent=2))
    return result


if __name__ == '__main__':
    main()
