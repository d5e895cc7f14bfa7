"""Count the tensor-to-host conversions (device synchronisations on an
accelerator) of test-time adaptation steps.

    python tools/analysis/count_host_syncs.py [CONFIG] [--hooks TRTTTHook
        TENTHook] [--checkpoint CKPT] [--batch-size 2] [--height 64
        --width 96]

For each hook (its defaults from the config's ``ttt`` dict), on the config's
model (random weights unless ``--checkpoint``) and a random batch, the hook
goes through ``before_test`` and one batch of warm-up, then
``before_test_iter`` of one batch with 1 and with 2 steps is run under
:class:`~trttt_mm.engine.hooks.guard.HostSyncCounter`. Prints one JSON
object per hook: the conversions per step (the difference of the two),
per batch besides the steps, the reads of torch's optimizers (host step
counters, no device synchronisation) and the number of adapted tensors, with
the places the conversions come from (``--where``).
"""
import argparse
import collections
import json
import os.path as osp
import sys
from types import SimpleNamespace

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
sys.path.insert(0, ROOT)


def count_hook(model, hook_cfg: dict, batch: dict, steps: int):
    """``(HostSyncCounter, hook)`` of one ``before_test_iter`` with
    ``steps`` steps (after ``before_test`` and one warm-up batch)."""
    import torch
    from mmengine.logging import MessageHub, MMLogger
    from mmseg.registry import HOOKS
    from trttt_mm.engine.hooks.guard import HostSyncCounter
    hook = HOOKS.build(dict(hook_cfg))
    runner = SimpleNamespace(
        model=model, message_hub=MessageHub.get_instance('count_host_syncs'),
        logger=MMLogger.get_instance('count_host_syncs'))
    torch.manual_seed(0)
    hook.before_test(runner)
    hook.before_test_iter(runner, 0, batch)  # warm-up (lazy optimizer state)
    if hasattr(hook, 'steps'):
        hook.steps = steps
    with HostSyncCounter() as counter:
        hook.before_test_iter(runner, 1, batch)
    hook.after_test(runner)
    return counter, hook


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', nargs='?',
                        default='configs/trttt/synth_t2n.py')
    parser.add_argument('--hooks', nargs='+',
                        default=['TRTTTHook', 'TENTHook'])
    parser.add_argument('--checkpoint', default=None)
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--height', type=int, default=64)
    parser.add_argument('--width', type=int, default=96)
    parser.add_argument('--where', action='store_true',
                        help='list where the conversions come from')
    args = parser.parse_args(argv)

    import torch
    from mmengine.config import Config
    from mmengine.logging import MMLogger
    from mmengine.registry import init_default_scope
    import trttt_mm  # noqa: F401  (registers the components)
    from mmseg.registry import MODELS
    from trttt_mm.utils import random_multitask_batch
    init_default_scope('mmseg')
    MMLogger.get_instance('count_host_syncs', log_level='WARNING')
    torch.set_num_threads(1)
    cfg = Config.fromfile(osp.join(ROOT, args.config)
                          if not osp.isabs(args.config) else args.config)
    defaults = (cfg.get('ttt', {}) or {})
    torch.manual_seed(0)
    source = MODELS.build(cfg.model)
    if args.checkpoint:
        from trttt_mm.utils.checkpoint import load_weights
        load_weights(source, args.checkpoint)
    source.eval()
    ncls = source.decode_head.num_classes or 1
    batch = random_multitask_batch(args.batch_size, args.height, args.width,
                                   ncls, torch.Generator().manual_seed(0))
    import copy
    results = []
    for name in args.hooks:
        hook_cfg = dict(type=name, **dict(defaults.get(name, {}) or {}))
        counts = {}
        for steps in (1, 2):
            counter, hook = count_hook(copy.deepcopy(source), hook_cfg,
                                       batch, steps)
            counts[steps] = counter
        one, two = counts[1], counts[2]
        res = dict(
            hook=name, config=args.config,
            adapted_tensors=len(getattr(hook, '_params', []) or []),
            per_step=two.count - one.count,
            per_batch_besides_steps=2 * one.count - two.count,
            batch_with_2_steps=two.count,
            optimizer_host_reads_per_step=(two.optimizer_reads -
                                           one.optimizer_reads))
        if args.where:
            res['where_2_steps'] = collections.Counter(
                f'{k} {w}' for k, w in two.where).most_common()
        print(json.dumps(res, indent=1))
        results.append(res)
    return results


if __name__ == '__main__':
    main()
