"""Evaluate a checkpoint, optionally adapting it online with a TTT hook.

``python tools/test.py CONFIG CHECKPOINT [--tta-hook TRTTTHook] [options]``
"""
import argparse
import json
import numbers
import os
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))

from mmengine.config import Config, ConfigDict  # noqa: E402

from trttt_mm.utils import ToolRunner, add_runner_args, load_config  # noqa
from trttt_mm.utils.checkpoint import CheckpointMismatchError  # noqa: E402

#: An existing --metrics-out file larger than this is never a metrics JSON.
MAX_METRICS_BYTES = 1 << 20


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
        '<work-dir>/metrics.json); an existing file is only replaced when '
        'it is an earlier metrics JSON')
    parser.add_argument(
        '--partial-load', action='store_true', default=False,
        help='load the checkpoint even when keys are missing, unexpected or '
        'of another shape (logged; those weights keep their initial '
        'values). Default: such a checkpoint is an error')
    parser.add_argument(
        '--split', choices=['test', 'val'], default='test',
        help="evaluate on the config's test_dataloader (default) or on its "
        'val_dataloader')
    parser.add_argument(
        '--show', action='store_true',
        help='display the panel of each sample (input, ground truth and '
        'prediction per task; with --tta-hook also the prediction before '
        'adaptation) in a window')
    parser.add_argument(
        '--show-dir', metavar='DIR',
        help='save the panels under DIR/vis_data/vis_image/ (as mmseg: the '
        "visualizer's save_dir; the run's scalars.json goes there too)")
    parser.add_argument(
        '--wait-time', type=float, default=2,
        help='seconds each panel stays on screen with --show (default 2)')
    return parser.parse_args(argv)


def add_tta_hook(cfg: Config, name: str) -> dict:
    """Append the named TTT hook and a ``TTTMonitorHook`` to
    ``cfg.custom_hooks`` (each with its defaults from ``cfg.ttt``; the monitor
    is not added twice when the config already has one).

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
    if not any(h.get('type') == 'TTTMonitorHook' for h in hooks):
        monitor = dict(type='TTTMonitorHook')
        monitor.update({k: v for k, v in
                        (defaults.get('TTTMonitorHook', {}) or {}).items()
                        if k != 'type'})
        hooks.append(ConfigDict(monitor))
    cfg.custom_hooks = hooks
    return hook


def trigger_visualization_hook(cfg: Config, args) -> None:
    """Switch on the panels for ``--show`` / ``--show-dir`` (mmseg's
    semantics).

    ``default_hooks.visualization`` (added as a ``MultiTaskVisualizationHook``
    drawing every batch when the config has none) gets ``draw=True``;
    ``--show`` sets ``show`` and ``wait_time``; ``--show-dir`` becomes the
    visualizer's ``save_dir`` and keeps the panels stored when ``--show`` is
    also given. A config's plain ``Visualizer`` or mmseg's
    ``SegLocalVisualizer`` becomes a ``MultiTaskLocalVisualizer`` with the
    same backends.

    Raises:
        SystemExit: when the config's visualizer is of another type.
    """
    if not (args.show or args.show_dir):
        return
    import trttt_mm  # noqa: F401  (registers the visualizer and the hook)
    from mmengine.visualization import Visualizer
    from mmseg.registry import HOOKS, VISUALIZERS
    from mmseg.visualization import SegLocalVisualizer
    from trttt_mm.engine.hooks import MultiTaskVisualizationHook
    from trttt_mm.visualization import MultiTaskLocalVisualizer
    hooks = cfg.get('default_hooks', None) or ConfigDict()
    vis_hook = hooks.get('visualization', None) or ConfigDict()
    if vis_hook.get('type', 'SegVisualizationHook') == 'SegVisualizationHook':
        vis_hook['type'] = 'MultiTaskVisualizationHook'  # mmseg's, or none
    vis_hook.setdefault('interval', 1)
    vis_hook['draw'] = True
    if args.show:
        vis_hook['show'] = True
        vis_hook['wait_time'] = args.wait_time
    if args.show_dir and isinstance(HOOKS.get(vis_hook['type']), type) \
            and issubclass(HOOKS.get(vis_hook['type']),
                           MultiTaskVisualizationHook):
        vis_hook['store'] = True  # stored even with --show
    hooks['visualization'] = vis_hook
    cfg.default_hooks = hooks
    visualizer = cfg.get('visualizer', None) or ConfigDict(
        type='MultiTaskLocalVisualizer',
        vis_backends=[dict(type='LocalVisBackend')])
    vis_type = visualizer.get('type', 'Visualizer')
    cls = VISUALIZERS.get(vis_type) if isinstance(vis_type, str) \
        else vis_type
    if cls in (Visualizer, SegLocalVisualizer):
        visualizer = ConfigDict(
            {k: v for k, v in visualizer.items()
             if k in ('type', 'name', 'vis_backends', 'save_dir')})
        visualizer['type'] = 'MultiTaskLocalVisualizer'
    elif not (isinstance(cls, type)
              and issubclass(cls, MultiTaskLocalVisualizer)):
        raise SystemExit(
            f'--show/--show-dir: the config\'s visualizer {vis_type!r} cannot '
            'draw multi-task samples; use type=\'MultiTaskLocalVisualizer\'')
    if args.show_dir:
        visualizer['save_dir'] = args.show_dir
    cfg.visualizer = visualizer


def valid_ttt_names() -> list:
    """Names a ``ttt.NAME`` config entry may use: registered hooks that
    subclass ``BaseTTTHook``, and the registered ``TTTMonitorHook``."""
    import trttt_mm  # noqa: F401  (registers the hooks)
    from trttt_mm.engine.hooks import ttt_hook_names
    from mmseg.registry import HOOKS
    names = list(ttt_hook_names())
    monitor = HOOKS.get('TTTMonitorHook')
    if isinstance(monitor, type) and monitor.__name__ == 'TTTMonitorHook':
        names.append('TTTMonitorHook')
    return sorted(set(names))


def check_ttt_config(cfg: Config) -> None:
    """Every key of ``cfg.ttt`` must name a test-time hook: a typo such as
    ``--cfg-options ttt.TRTTHook.steps=1`` would otherwise be ignored.

    Raises:
        SystemExit: naming the unknown entries and the valid names.
    """
    ttt = cfg.get('ttt', None)
    if not isinstance(ttt, dict):
        return
    valid = valid_ttt_names()
    unknown = [name for name in ttt if name not in valid]
    if unknown:
        raise SystemExit(
            f'config ttt: {", ".join(repr(n) for n in unknown)} '
            f'{"is not a" if len(unknown) == 1 else "are not"} registered '
            f'test-time hook{"" if len(unknown) == 1 else "s"}; valid names: '
            f'{", ".join(valid)}')
    for name, value in ttt.items():
        if not isinstance(value, dict):
            raise SystemExit(
                f'config ttt.{name} must be a dict of hook arguments, not '
                f'{type(value).__name__} {value!r}')


def _is_metrics_json(path: str) -> bool:
    """True when ``path`` holds a JSON object of str -> number, str, list
    (or null/bool), as this tool writes."""
    if osp.getsize(path) > MAX_METRICS_BYTES:
        return False
    try:
        with open(path, 'rb') as f:
            data = json.loads(f.read().decode('utf-8'))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(data, dict) and all(
        isinstance(k, str) and (v is None or isinstance(
            v, (bool, int, float, str, list))) for k, v in data.items())


def check_metrics_out(path: str, what: str = '--metrics-out') -> None:
    """Refuse a metrics path that would fail or destroy data, before the run.

    The path must not be a directory; an existing file must be an earlier
    metrics JSON (anything else, e.g. a checkpoint, is never overwritten) and
    writable; the nearest existing parent must be a writable directory.

    Raises:
        SystemExit: saying what is wrong with ``path``.
    """
    if osp.isdir(path):
        raise SystemExit(f'{what} {path} is a directory; give a file path '
                         '(e.g. DIR/metrics.json)')
    if osp.lexists(path):
        if not osp.isfile(path):
            raise SystemExit(f'{what} {path} exists and is not a regular '
                             'file')
        if not _is_metrics_json(path):
            raise SystemExit(
                f'{what} {path} exists and is not a metrics JSON '
                f'({osp.getsize(path)} bytes); refusing to overwrite it. '
                'Choose another path or remove the file yourself')
        if not os.access(path, os.W_OK):
            raise SystemExit(f'{what} {path} is not writable')
    parent = osp.dirname(osp.abspath(path))
    while not osp.lexists(parent):
        parent = osp.dirname(parent)
    if not osp.isdir(parent):
        raise SystemExit(f'{what} {path}: {parent} is not a directory')
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SystemExit(f'{what} {path}: directory {parent} is not '
                         'writable')


def write_json_atomic(path: str, data: dict) -> None:
    """Write ``data`` next to ``path`` and rename it into place."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = osp.join(folder, f'.{osp.basename(path)}.{os.getpid()}.tmp')
    try:
        with open(tmp, 'w') as f:
            json.dump(data, f, indent=2)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'checkpoint not found: {args.checkpoint}')
    cfg = load_config(args)
    check_ttt_config(cfg)
    out = args.metrics_out or osp.join(cfg.work_dir, 'metrics.json')
    what = '--metrics-out' if args.metrics_out else 'metrics file'
    check_metrics_out(out, what)
    # The tool loads the weights itself (ToolRunner.load_checkpoint): strictly
    # unless --partial-load, before any before_test hook runs.
    cfg.load_from = args.checkpoint
    cfg.resume = False
    if args.tta_hook:
        add_tta_hook(cfg, args.tta_hook)
        # Test-time objectives use only some branches (e.g. not the TP heads):
        # DDP must not wait for gradients of the unused parameters.
        cfg.find_unused_parameters = True
        if cfg.get('model_wrapper_cfg'):
            cfg.model_wrapper_cfg.setdefault('find_unused_parameters', True)
    trigger_visualization_hook(cfg, args)
    if args.split == 'val':
        cfg.test_dataloader = cfg.val_dataloader
        cfg.test_evaluator = cfg.val_evaluator
    runner = ToolRunner.from_cfg(
        cfg, checkpoint_policy='partial' if args.partial_load else 'strict')
    try:
        metrics = runner.test()
    except CheckpointMismatchError as e:
        raise SystemExit(f'error: {e}') from e
    if runner.rank == 0:
        # numpy scalars too (mmseg's IoUMetric returns np.float32)
        metrics = {k: (float(v) if isinstance(v, numbers.Real) else v)
                   for k, v in metrics.items()}
        # A copy in the run's own log dir keeps every run's numbers;
        # <work-dir>/metrics.json (or --metrics-out) holds the latest.
        run_copy = osp.join(runner.log_dir, 'metrics.json')
        write_json_atomic(run_copy, metrics)
        try:
            check_metrics_out(out, what)  # may have changed during the run
        except SystemExit as e:
            raise SystemExit(f'{e} (this run\'s metrics are in '
                             f'{run_copy})') from None
        write_json_atomic(out, metrics)
        runner.logger.info(f'metrics written to {out}')


if __name__ == '__main__':
    main()
