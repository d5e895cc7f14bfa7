"""Where the time of one training iteration goes.

``python tools/analysis/profile_train_step.py CONFIG [--batch-size 8]
[--height 64 --width 96] [--repeats 5] [--top 15]`` (default size: the
demo's images)

On the config's model, its optimizer and one random batch (no data needed),
it times (median of repeats, after a warm-up):

- ``step``: a whole ``model.train_step`` (preprocessing, forward of every
  branch, losses, backward, optimizer step), what the training loop runs;
- per phase: the preprocessor, the encoder (backbone + neck + shared
  latent), the main head's forward and losses, each auxiliary head's forward
  and losses, the backward and the optimizer step of that iteration;
- ``without_aux_heads``: the same step with the auxiliary heads switched off
  (the main branch only), so the share of the auxiliary branches is the
  difference of two measured steps, not an attribution guess;

and prints the top operators of the step by self CPU time (torch.profiler).
Prints one JSON object (``--json``) or a table.
"""
import argparse
import json
import os.path as osp
import statistics
import sys
import time

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
sys.path.insert(0, ROOT)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--height', type=int, default=64)
    parser.add_argument('--width', type=int, default=96)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--top', type=int, default=15,
                        help='operators listed (0: no operator profile)')
    parser.add_argument('--device', default=None)
    parser.add_argument('--json', action='store_true')
    args = parser.parse_args(argv)
    for name in ('batch_size', 'height', 'width', 'repeats'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1')
    if args.top < 0:
        parser.error('--top must be >= 0')
    return args


def main(argv=None):
    args = parse_args(argv)
    import torch
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmengine.logging import MMLogger
    from mmengine.model import ModuleDict
    from mmengine.registry import init_default_scope

    import trttt_mm  # noqa: F401
    from mmseg.registry import MODELS
    from trttt_mm.tasks import stack_gts
    from trttt_mm.utils import median_seconds, random_multitask_batch
    from trttt_mm.utils import sync as sync_device
    init_default_scope('mmseg')
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    cfg = Config.fromfile(args.config)
    model = MODELS.build(cfg.model).to(device)
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel('WARNING')  # init_weights' per-parameter report
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
    model.train()
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    batch = random_multitask_batch(
        args.batch_size, args.height, args.width,
        model.decode_head.num_classes or 1, torch.Generator().manual_seed(0))
    heads = list(model.aux_heads.keys()) if model.aux_heads else []

    def sync():
        sync_device(device)

    def timed(fn):
        return median_seconds(fn, args.repeats, device)

    def step():
        model.train_step(batch, optim)

    def phases():
        """One training iteration, phase by phase: the terms the
        segmentor's loss() sums (head losses prefixed by the head's name;
        an optional ``loss_weighting`` is left out)."""
        out, t = {}, time.perf_counter

        def lap(name, t0):
            sync()
            out[name] = t() - t0

        t0 = t()
        data = model.data_preprocessor(batch, True)
        lap('preprocess', t0)
        inputs = data['inputs']
        gts = stack_gts(data['data_samples'], model.tasks)
        size = tuple(inputs.shape[2:])
        t0 = t()
        feats = model.extract_feat(inputs)
        z = model.decode_head.fuse(feats)
        lap('encoder', t0)
        t0 = t()
        res = dict(main=model._resize(model.decode_head.decode(z), size))
        lap('main.forward', t0)
        for h in heads:
            t0 = t()
            res[h] = model.forward_aux_head(h, inputs, feats, z, size)
            lap(f'{h}.forward', t0)
        losses = {}
        t0 = t()
        losses.update(model.decode_head.loss_by_task(res['main'], gts))
        lap('main.losses', t0)
        for h in heads:
            t0 = t()
            losses.update({
                f'{h}.{k}': v for k, v in model.aux_heads[h].loss(
                    res[h], gts, model, inputs).items()})
            lap(f'{h}.losses', t0)
        loss = sum(v for k, v in losses.items() if 'loss' in k)
        t0 = t()
        optim.zero_grad()
        loss.backward()
        lap('backward', t0)
        t0 = t()
        optim.step()
        lap('optimizer', t0)
        return out

    step_s = timed(step)
    runs = [phases() for _ in range(args.repeats + 1)][1:]
    phase_s = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    result = dict(
        config=args.config, device=device,
        batch=[args.batch_size, 3, args.height, args.width],
        threads=torch.get_num_threads(), repeats=args.repeats,
        step_s=round(step_s, 4),
        phases_s={k: round(v, 4) for k, v in phase_s.items()})
    if heads:
        saved = model.aux_heads
        model.aux_heads = ModuleDict()
        try:
            result['without_aux_heads_step_s'] = round(timed(step), 4)
        finally:
            model.aux_heads = saved
        result['aux_heads_share'] = round(
            1 - result['without_aux_heads_step_s'] / step_s, 3)
    if args.top:
        from torch.profiler import ProfilerActivity, profile
        acts = [ProfilerActivity.CPU]
        if device.startswith('cuda'):
            acts.append(ProfilerActivity.CUDA)
        with profile(activities=acts) as prof:
            step()
            sync()
        ops = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
        total = sum(e.self_cpu_time_total for e in ops) or 1
        result['top_ops'] = [
            dict(op=e.key, self_cpu_ms=round(e.self_cpu_time_total / 1e3, 2),
                 share=round(e.self_cpu_time_total / total, 3),
                 calls=e.count) for e in ops[:args.top]]
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"step {result['step_s']:.3f} s  ({result['batch']}, "
              f"{result['threads']} thread(s), {device})")
        if heads:
            print(f"  without auxiliary heads "
                  f"{result['without_aux_heads_step_s']:.3f} s  -> auxiliary "
                  f"heads {100 * result['aux_heads_share']:.1f} %")
        for k, v in result['phases_s'].items():
            print(f'  {k:<28} {v:.4f} s')
        for op in result.get('top_ops', []):
            print(f"  {op['op']:<48} {op['self_cpu_ms']:>9.2f} ms "
                  f"{100 * op['share']:5.1f} %  x{op['calls']}")
    return result


if __name__ == '__main__':
    main()
