"""Draw multi-task panels during validation and testing (mmseg's
``SegVisualizationHook`` pattern, for :class:`MultiTaskLocalVisualizer`)."""
import os.path as osp
import warnings
from typing import Optional, Sequence

import mmcv
import mmengine.fileio as fileio
from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from mmseg.registry import HOOKS

from ...visualization import MultiTaskLocalVisualizer


def check_display() -> None:
    """Refuse ``show`` where matplotlib cannot open a window: its
    non-interactive backends (``agg`` without a display) would wait
    ``wait_time`` seconds per panel for nothing, or forever with 0.

    Raises:
        RuntimeError: naming the backend and the alternative.
    """
    import matplotlib
    from matplotlib.backends import BackendFilter, backend_registry
    backend = matplotlib.get_backend()
    if backend.lower() in backend_registry.list_builtin(
            BackendFilter.NON_INTERACTIVE):
        raise RuntimeError(
            f'--show / show=True needs a display, but matplotlib\'s backend '
            f'is {backend!r} (non-interactive: no display here?); save the '
            'panels with --show-dir DIR instead, or set MPLBACKEND to an '
            'interactive backend')


@HOOKS.register_module()
class MultiTaskVisualizationHook(Hook):
    """Draw the panel of every sample of every ``interval``-th batch.

    The image is read from the sample's ``img_path`` (as mmseg does) and
    drawn with the runner's visualizer, which must be a
    :class:`MultiTaskLocalVisualizer`. With a test-time training hook and
    ``TTTMonitorHook`` the samples carry the unadapted model's prediction
    (``base_pred_*``), and the panel shows it beside the adapted one; the
    monitor sets those fields in its own ``after_test_iter``, so this hook
    must run after it (``NORMAL`` priority, the monitor is ``ABOVE_NORMAL``).

    Panels go to the visualizer's backends under the name
    ``<mode>_<image file name>`` with the step ``runner.iter`` (validation)
    or the sample's position in the test stream (test), e.g.
    ``<save_dir>/vis_data/vis_image/test_0001.png_0.png`` for
    ``LocalVisBackend``.

    Args:
        draw: Draw at all (default False, as in mmseg: ``tools/test.py
            --show``/``--show-dir`` switch it on).
        interval: Draw every ``interval``-th batch (1 = every batch).
        show: Display each panel in a window (matplotlib; refused where
            its backend is non-interactive, e.g. no display).
        wait_time: Seconds a displayed panel stays (0 = until a key).
        store: Record the panels in the backends; default ``not show``
            (mmseg's ``show`` displays without storing; unlike mmseg, the
            backends stay, so the scalars of the run are still recorded).
        draw_gt / draw_pred: Draw the ground-truth / prediction rows.
        backend_args: File backend arguments for reading the images.
    """

    priority = 'NORMAL'

    def __init__(self,
                 draw: bool = False,
                 interval: int = 50,
                 show: bool = False,
                 wait_time: float = 0.,
                 store: Optional[bool] = None,
                 draw_gt: bool = True,
                 draw_pred: bool = True,
                 backend_args: Optional[dict] = None):
        if int(interval) != interval or interval < 1:
            raise ValueError('MultiTaskVisualizationHook: interval must be a '
                             f'positive integer, got {interval!r}')
        if wait_time < 0:
            raise ValueError('MultiTaskVisualizationHook: wait_time must be '
                             f'>= 0 seconds, got {wait_time!r}')
        self.draw = bool(draw)
        self.interval = int(interval)
        self.show = bool(show)
        self.wait_time = float(wait_time)
        self.store = (not self.show) if store is None else bool(store)
        self.draw_gt = draw_gt
        self.draw_pred = draw_pred
        self.backend_args = backend_args.copy() if backend_args else None
        self._test_index = 0
        if self.draw and not (self.show or self.store):
            warnings.warn('MultiTaskVisualizationHook: draw=True with '
                          'show=False and store=False draws nothing')

    def before_run(self, runner) -> None:
        self._visualizer = runner.visualizer
        if self.draw and not isinstance(self._visualizer,
                                        MultiTaskLocalVisualizer):
            raise TypeError(
                'MultiTaskVisualizationHook needs the runner\'s visualizer '
                'to be a MultiTaskLocalVisualizer, got '
                f'{type(self._visualizer).__name__}; set visualizer=dict('
                "type='MultiTaskLocalVisualizer', vis_backends=...) in the "
                'config (tools/test.py --show-dir does it)')

        if self.draw and self.show:
            check_display()

    def before_test(self, runner) -> None:
        self._test_index = 0

    def _draw(self, runner, outputs: Sequence, mode: str, step_of) -> None:
        if not is_main_process():
            return  # the visualizer draws on rank 0 only (master_only)
        for output in outputs:
            img_path = output.img_path
            try:
                img_bytes = fileio.get(img_path,
                                       backend_args=self.backend_args)
            except OSError as e:
                raise OSError(f'MultiTaskVisualizationHook: cannot read the '
                              f'image {img_path}: {e}') from e
            img = mmcv.imfrombytes(img_bytes, channel_order='rgb')
            if img is None:
                raise ValueError(f'MultiTaskVisualizationHook: {img_path} '
                                 'is not a readable image')
            self._visualizer.add_datasample(
                f'{mode}_{osp.basename(img_path)}',
                img,
                data_sample=output,
                draw_gt=self.draw_gt,
                draw_pred=self.draw_pred,
                show=self.show,
                wait_time=self.wait_time,
                step=step_of(),
                store=self.store)

    def after_val_iter(self, runner, batch_idx: int, data_batch=None,
                       outputs: Optional[Sequence] = None) -> None:
        if not self.draw or not outputs or not self.every_n_inner_iters(
                batch_idx, self.interval):
            return
        self._draw(runner, outputs, 'val', lambda: runner.iter)

    def after_test_iter(self, runner, batch_idx: int, data_batch=None,
                        outputs: Optional[Sequence] = None) -> None:
        outputs = outputs or []
        first = self._test_index
        self._test_index += len(outputs)
        if not self.draw or not outputs or not self.every_n_inner_iters(
                batch_idx, self.interval):
            return
        index = iter(range(first, first + len(outputs)))
        self._draw(runner, outputs, 'test', lambda: next(index))
