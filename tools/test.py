"""Evaluate a checkpoint, optionally adapting it online with a TTT hook.

``python tools/test.py CONFIG CHECKPOINT [--tta-hook TRTTTHook] [options]``
"""
import argparse
import json
import os
import os.path as osp
import shutil
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))

from mmengine.config import Config, ConfigDict  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from trttt_mm.utils import add_runner_args, load_config  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Test (and optionally test-time train) a trttt_mm model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    add_runner_args(parser)
    parser.add_argument(
        '--tta-hook', metavar='NAME',
        help='test-time training hook to run online during the test loop '
        '(e.g. TRTTTHook); merged with cfg.ttt[NAME] when the config defines '
        'defaults')
    parser.add_argument(
        '--metrics-out', metavar='FILE',
        help='where to write the metrics JSON (default: '
        '<work-dir>/metrics.json)')
    parser.add_argument(
        '--split', choices=['test', 'val'], default='test',
        help="evaluate on the config's test_dataloader (default) or on its "
        'val_dataloader')
    return parser.parse_args(argv)


def add_tta_hook(cfg: Config, name: str) -> dict:
    """Append the named TTT hook to ``cfg.custom_hooks``.

    Raises:
        SystemExit: when ``name`` is not a registered test-time hook.
    """
    import trttt_mm  # noqa: F401  (registers the hooks)
    from trttt_mm.engine.hooks import BaseTTTHook, ttt_hook_names
    from mmseg.registry import HOOKS
    cls = HOOKS.get(name)
    if cls is None or not (isinstance(cls, type)
                           and issubclass(cls, BaseTTTHook)):
        raise SystemExit(
            f'--tta-hook: unknown test-time training hook {name!r}; '
            f'available: {", ".join(ttt_hook_names())}')
    hook = dict(type=name)
    defaults = cfg.get('ttt', {}) or {}
    if name in defaults:
        hook.update({k: v for k, v in defaults[name].items() if k != 'type'})
    hooks = list(cfg.get('custom_hooks', []) or [])
    hooks.append(ConfigDict(hook))
    cfg.custom_hooks = hooks
    return hook


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'checkpoint not found: {args.checkpoint}')
    cfg = load_config(args)
    cfg.load_from = args.checkpoint
    if args.tta_hook:
        add_tta_hook(cfg, args.tta_hook)
        # Test-time objectives use only some branches (e.g. not the TP heads):
        # DDP must not wait for gradients of the unused parameters.
        cfg.find_unused_parameters = True
        if cfg.get('model_wrapper_cfg'):
            cfg.model_wrapper_cfg.setdefault('find_unused_parameters', True)
    if args.split == 'val':
        cfg.test_dataloader = cfg.val_dataloader
        cfg.test_evaluator = cfg.val_evaluator
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    if runner.rank == 0:
        metrics = {k: (float(v) if isinstance(v, (int, float)) else v)
                   for k, v in metrics.items()}
        # A copy in the run's timestamped log dir keeps every run's numbers;
        # <work-dir>/metrics.json (or --metrics-out) holds the latest.
        run_copy = osp.join(runner.log_dir, 'metrics.json')
        with open(run_copy, 'w') as f:
            json.dump(metrics, f, indent=2)
        out = args.metrics_out or osp.join(cfg.work_dir, 'metrics.json')
        if osp.dirname(out):
            os.makedirs(osp.dirname(out), exist_ok=True)
        shutil.copyfile(run_copy, out)
        runner.logger.info(f'metrics written to {out}')


if __name__ == '__main__':
    main()
