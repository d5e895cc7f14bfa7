"""A visualizer for the four dense tasks, on mmengine's ``Visualizer``."""
from typing import Dict, List, Optional, Sequence, Tuple

import mmcv
import numpy as np
import torch
from mmengine.dist import master_only
from mmengine.structures import BaseDataElement
from mmengine.visualization import Visualizer

from mmseg.registry import VISUALIZERS

from ..tasks import GT_FIELDS, PRED_FIELDS, TASKS, check_tasks
from . import task_maps
from .panel import (INPUT_COLUMN, SWATCH, BACKGROUND, GAP, PanelLayout,
                    auto_scale, draw_legend, legend_height)

#: Data-sample field of the unadapted model's prediction, per task (set by
#: :class:`~trttt_mm.engine.hooks.TTTMonitorHook` on the adapted outputs).
BASE_PRED_FIELDS = {t: f'base_{f}' for t, f in PRED_FIELDS.items()}

#: Fields of each row, per task.
ROW_FIELDS = {'gt': GT_FIELDS, 'base': BASE_PRED_FIELDS, 'pred': PRED_FIELDS}


def _to_numpy(data) -> np.ndarray:
    if isinstance(data, torch.Tensor):
        data = data.detach().cpu()
        if data.dtype in (torch.bfloat16, torch.float16):
            data = data.float()
        data = data.numpy()
    return np.asarray(data)


def _nearest(arr: np.ndarray, hw: Tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of ``(C, h, w)`` to ``(C, *hw)`` (the index
    rule of cv2's INTER_NEAREST, for any dtype)."""
    h, w = arr.shape[-2:]
    ys = np.minimum((np.arange(hw[0]) * h / hw[0]).astype(np.int64), h - 1)
    xs = np.minimum((np.arange(hw[1]) * w / hw[1]).astype(np.int64), w - 1)
    return arr[:, ys][:, :, xs]


def fit_to_image(arr: np.ndarray, image_hw: Tuple[int, int],
                 img_shape: Optional[Sequence[int]] = None,
                 name: str = 'map') -> np.ndarray:
    """Bring a ``(C, h, w)`` map to the image size.

    A map of the image size is returned as it is. A larger map is taken as
    padded at the bottom and right (mmseg's and our preprocessor's padding)
    and cut to ``img_shape`` (the data sample's unpadded input size), or to
    the image size without it. A map of ``img_shape`` that differs from the
    image (a pipeline that resized the input) is resized with nearest
    neighbour.

    Raises:
        ValueError: naming ``name`` and the shapes when the map fits neither.
    """
    image_hw = tuple(int(v) for v in image_hw)
    target = tuple(int(v) for v in img_shape[:2]) if img_shape is not None \
        else image_hw
    h, w = arr.shape[-2:]
    if (h, w) == image_hw:
        return arr
    if h >= target[0] and w >= target[1]:
        arr = arr[..., :target[0], :target[1]]
    if tuple(arr.shape[-2:]) == image_hw:
        return arr
    if tuple(arr.shape[-2:]) == target:
        return _nearest(arr, image_hw)
    raise ValueError(
        f'{name}: a map of shape {(h, w)} does not fit the image of shape '
        f'{image_hw} (expected the image size, a bottom/right padding of '
        f'img_shape {target}, or img_shape itself)')


@VISUALIZERS.register_module()
class MultiTaskLocalVisualizer(Visualizer):
    """Draws semseg, depth, normals and edges of a ``SegDataSample`` as one
    panel: a column per task, the ground truth above the prediction, and,
    when the sample carries the unadapted model's prediction
    (``base_pred_*``, set by ``TTTMonitorHook``), a 'before TTT' row between
    them. Invalid pixels are hatched (see :mod:`.task_maps`).

    It works with any subset of the four tasks and any image size; storage
    goes through mmengine's ``vis_backends`` (``LocalVisBackend``,
    ``TensorboardVisBackend``, ``WandbVisBackend``) as for mmseg's
    ``SegLocalVisualizer``.

    Args:
        name: Instance name.
        image: An image to set (RGB), as in mmengine.
        vis_backends: Backend configs.
        save_dir: Root of the backends' files (``<save_dir>/vis_data``).
        classes / palette: Class names and RGB colours of semseg; default:
            the ``dataset_meta`` the test loop sets from the dataset's
            metainfo. A palette is made for classes without one.
        alpha: Weight of the class colour over the image (mmseg's
            ``SegLocalVisualizer`` default 0.8).
        depth_cmap: matplotlib colormap of depth.
        depth_range: Fixed ``(vmin, vmax)`` in metres; default: the range of
            the valid ground truth and the predictions of each image.
        tasks: Tasks to draw (default: every task the sample carries).
        scale: Integer upscaling of every cell; default: the smallest that
            makes the shorter image side at least ``min_cell_size``.
        min_cell_size: See ``scale``.
    """

    def __init__(self,
                 name: str = 'visualizer',
                 image: Optional[np.ndarray] = None,
                 vis_backends: Optional[List[dict]] = None,
                 save_dir: Optional[str] = None,
                 classes: Optional[Sequence[str]] = None,
                 palette: Optional[Sequence[Sequence[int]]] = None,
                 alpha: float = 0.8,
                 depth_cmap: str = 'viridis',
                 depth_range: Optional[Sequence[float]] = None,
                 tasks: Optional[Sequence[str]] = None,
                 scale: Optional[int] = None,
                 min_cell_size: int = 128,
                 **kwargs) -> None:
        super().__init__(name, image, vis_backends, save_dir, **kwargs)
        if not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(f'MultiTaskLocalVisualizer: alpha must be in '
                             f'[0, 1], got {alpha!r}')
        if depth_range is not None:
            depth_range = tuple(float(v) for v in depth_range)
            if len(depth_range) != 2 or not depth_range[0] < depth_range[1]:
                raise ValueError(
                    'MultiTaskLocalVisualizer: depth_range must be (vmin, '
                    f'vmax) with vmin < vmax, got {depth_range!r}')
        if scale is not None and (int(scale) != scale or scale < 1):
            raise ValueError(f'MultiTaskLocalVisualizer: scale must be a '
                             f'positive integer, got {scale!r}')
        if int(min_cell_size) < 1:
            raise ValueError('MultiTaskLocalVisualizer: min_cell_size must '
                             f'be positive, got {min_cell_size!r}')
        self.classes = None if classes is None else tuple(classes)
        self.palette = None if palette is None else [
            list(c) for c in palette]
        self.alpha = float(alpha)
        self.depth_cmap = depth_cmap
        self._lut = task_maps.colormap_lut(depth_cmap)
        self.depth_range = depth_range
        self.tasks = None if tasks is None else check_tasks(
            tasks, 'MultiTaskLocalVisualizer.tasks')
        self.scale = None if scale is None else int(scale)
        self.min_cell_size = int(min_cell_size)
        #: Layout of the last panel drawn (cell positions).
        self.layout: Optional[PanelLayout] = None

    # -- semseg meta -------------------------------------------------------
    def _semseg_meta(self) -> Tuple[Tuple[str, ...], np.ndarray]:
        meta = self.dataset_meta or {}
        classes = self.classes or meta.get('classes')
        if not classes:
            raise ValueError(
                'MultiTaskLocalVisualizer: drawing semseg needs class names: '
                'set visualizer.dataset_meta to the dataset\'s metainfo (the '
                'test loop does) or pass classes=[...]')
        palette = self.palette or meta.get('palette')
        if palette is None:
            from ..datasets.base import make_palette
            palette = make_palette(len(classes))
        palette = np.asarray(palette)
        if palette.ndim != 2 or palette.shape[1] != 3 or \
                len(palette) != len(classes):
            raise ValueError(
                f'MultiTaskLocalVisualizer: the palette must hold one RGB '
                f'colour per class ({len(classes)} classes), got shape '
                f'{palette.shape}')
        return tuple(classes), palette.astype(np.uint8)

    # -- panel -------------------------------------------------------------
    def _tasks_of(self, data_sample, rows: Sequence[str]) -> Tuple[str, ...]:
        if self.tasks is not None:
            return self.tasks
        return tuple(t for t in TASKS
                     if any(ROW_FIELDS[r][t] in data_sample for r in rows))

    def _map(self, data_sample, row: str, task: str,
             image_hw: Tuple[int, int]) -> Optional[np.ndarray]:
        """The ``(C, H, W)`` map of one cell, at the image size, or None."""
        name = ROW_FIELDS[row][task]
        if name not in data_sample:
            return None
        arr = _to_numpy(getattr(data_sample, name).data)
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3:
            raise ValueError(f'{name}: expected a (C, H, W) map, got shape '
                             f'{arr.shape}')
        want = 3 if task == 'normal' else 1
        if arr.shape[0] != want:
            raise ValueError(f'{name}: expected {want} channel(s), got shape '
                             f'{arr.shape}')
        img_shape = data_sample.metainfo.get('img_shape')
        return fit_to_image(arr, image_hw, img_shape, name)

    def draw_panel(self,
                   image: np.ndarray,
                   data_sample: Optional[BaseDataElement],
                   draw_gt: bool = True,
                   draw_pred: bool = True
                   ) -> Tuple[np.ndarray, PanelLayout]:
        """Draw the panel of one sample.

        Args:
            image: ``(H, W, 3) uint8`` RGB input at its original size (the
                size of the predictions).
            data_sample: a ``SegDataSample`` with any of the ground-truth,
                prediction and ``base_pred_*`` fields.
            draw_gt / draw_pred: include the ground-truth row / the
                prediction rows.

        Returns:
            The panel (``uint8`` RGB) and its :class:`PanelLayout`.
        """
        image = np.asarray(image)
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=-1)
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f'MultiTaskLocalVisualizer: expected an (H, W, '
                             f'3) RGB image, got shape {image.shape}')
        image = image.astype(np.uint8)
        hw = image.shape[:2]
        rows = []
        if data_sample is not None:
            if draw_gt:
                rows.append('gt')
            if draw_pred:
                rows += ['base', 'pred']
        tasks = self._tasks_of(data_sample, rows) if rows else ()
        maps = {(r, t): self._map(data_sample, r, t, hw)
                for r in rows for t in tasks}
        rows = [r for r in rows
                if any(maps[(r, t)] is not None for t in tasks)]
        scale = self.scale or auto_scale(hw, self.min_cell_size)
        layout = PanelLayout(hw, scale, (INPUT_COLUMN, ) + tasks,
                             tuple(rows) or ('gt', ))

        cells, titles, legend = self._render(image, maps, rows, tasks)
        items = []
        if legend['classes']:
            classes, palette = self._semseg_meta()
            items += [(classes[c], np.broadcast_to(
                palette[c], (SWATCH, SWATCH, 3))) for c in legend['classes']]
        if legend['invalid']:
            swatch = np.zeros((SWATCH, SWATCH, 3), np.uint8)
            items.append(('invalid', task_maps.mark_invalid(
                swatch, np.ones((SWATCH, SWATCH), bool))))
        extra = legend_height([t for t, _ in items], layout.width)
        canvas = np.full((layout.grid_height + extra + GAP, layout.width, 3),
                         BACKGROUND, np.uint8)
        layout.draw_frame(canvas, titles)
        row0 = layout.rows[0]
        canvas[layout.cell(row0, INPUT_COLUMN)] = self._upscale(image, scale)
        for (r, t), cell in cells.items():
            canvas[layout.cell(r, t)] = self._upscale(cell, scale)
        if items:
            draw_legend(canvas, layout.grid_height, items)
        return canvas, layout

    @staticmethod
    def _upscale(cell: np.ndarray, scale: int) -> np.ndarray:
        if scale == 1:
            return cell
        return np.repeat(np.repeat(cell, scale, axis=0), scale, axis=1)

    def _render(self, image, maps, rows, tasks):
        """Cell images, column titles and legend entries."""
        cells: Dict[Tuple[str, str], np.ndarray] = {}
        titles: Dict[str, str] = {}
        legend = dict(classes=set(), invalid=False)
        for t in tasks:
            present = [(r, maps[(r, t)]) for r in rows
                       if maps[(r, t)] is not None]
            if not present:
                continue
            if t == 'semseg':
                _, palette = self._semseg_meta()
                for r, m in present:
                    labels = m[0].astype(np.int64)
                    invalid = task_maps.semseg_invalid(labels, len(palette))
                    cells[(r, t)] = task_maps.draw_semseg(
                        image, labels, palette, self.alpha)
                    legend['classes'].update(np.unique(labels[~invalid]))
                    legend['invalid'] |= bool(invalid.any())
            elif t == 'depth':
                invalid = {r: task_maps.depth_invalid(m[0], r == 'gt')
                           for r, m in present}
                rng = self.depth_range or task_maps.depth_range(
                    [(m[0], invalid[r]) for r, m in present])
                for r, m in present:
                    cells[(r, t)] = task_maps.draw_depth(
                        m[0], invalid[r], rng, self._lut)
                    legend['invalid'] |= bool(invalid[r].any())
                if rng is not None:
                    titles[t] = f'depth {rng[0]:.2f}-{rng[1]:.2f} m'
            elif t == 'normal':
                for r, m in present:
                    n = np.moveaxis(m, 0, -1)
                    invalid = task_maps.normal_invalid(n, r == 'gt')
                    cells[(r, t)] = task_maps.draw_normal(n, invalid)
                    legend['invalid'] |= bool(invalid.any())
            else:  # edge
                for r, m in present:
                    invalid = task_maps.edge_invalid(m[0], r == 'gt')
                    cells[(r, t)] = task_maps.draw_edge(m[0], invalid)
                    legend['invalid'] |= bool(invalid.any())
        legend['classes'] = sorted(int(c) for c in legend['classes'])
        return cells, titles, legend

    # -- mmengine interface ------------------------------------------------
    @master_only
    def add_datasample(self,
                       name: str,
                       image: np.ndarray,
                       data_sample: Optional[BaseDataElement] = None,
                       draw_gt: bool = True,
                       draw_pred: bool = True,
                       show: bool = False,
                       wait_time: float = 0,
                       out_file: Optional[str] = None,
                       step: int = 0,
                       store: bool = True) -> None:
        """Draw a sample's panel and record it, as mmseg's visualizer does.

        With ``out_file`` the panel is written there; otherwise it goes to
        every backend (``add_image(name, panel, step)``) unless ``store`` is
        False. ``show`` displays it (``wait_time`` seconds, 0 = until a key).

        Args:
            name: Image identifier (the backends' file or tag name).
            image: ``(H, W, 3) uint8`` RGB input.
            data_sample: The sample's ground truth and predictions.
            draw_gt / draw_pred: Draw the ground-truth / prediction rows.
            show: Display the panel.
            wait_time: Display time in seconds.
            out_file: Write the panel to this file instead of the backends.
            step: Global step of the backends.
            store: Record the panel in the backends (when no ``out_file``).
        """
        panel, self.layout = self.draw_panel(image, data_sample, draw_gt,
                                             draw_pred)
        self.set_image(panel)
        if show:
            self.show(panel, win_name=name, wait_time=wait_time)
        if out_file is not None:
            mmcv.imwrite(mmcv.rgb2bgr(panel), out_file)
        elif store:
            self.add_image(name, panel, step)
