"""Loading of images and multi-task ground truth, with format checks.

The file decoders themselves live in :mod:`trttt_mm.datasets.decoders`.
"""
import os.path as osp
from functools import lru_cache
from typing import Dict, Optional, Sequence, Tuple

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform

from mmseg.registry import TRANSFORMS
from trttt_mm.tasks import GT_KEYS, check_tasks
from ..base import PATH_KEYS, DataFormatError
from ..class_maps import build_label_lut, known_label_values
from ..decoders import (decode_color_png, decode_png, describe_values,
                        load_label_map, load_npy, read_bytes, single_channel)
from ..label_edges import EdgeCache, label_map_edges
from ..pascal_classes import VALID_ID_SETS
from ..paths import path_problem

_TASK_FILES = {
    'semseg': 'semantic map',
    'depth': 'depth map',
    'normal': 'normal map',
    'edge': 'edge map',
}


_EDGE_CACHES: Dict[Tuple[Optional[str], int], EdgeCache] = {}


def get_edge_cache(cache_dir: Optional[str] = None,
                   max_items: int = 12000) -> EdgeCache:
    """The process-wide :class:`EdgeCache` for ``(cache_dir, max_items)``.
    """
    if cache_dir is not None:
        cache_dir = osp.abspath(osp.expanduser(cache_dir))
    key = (cache_dir, int(max_items))
    if key not in _EDGE_CACHES:
        _EDGE_CACHES[key] = EdgeCache(max_items, cache_dir)
    return _EDGE_CACHES[key]


def resolve_valid_ids(valid_ids) -> np.ndarray:
    """Sorted int array of a named id set or an explicit id list."""
    if isinstance(valid_ids, str):
        if valid_ids not in VALID_ID_SETS:
            raise ValueError(
                f'unknown valid_ids set {valid_ids!r}; expected one of '
                f'{tuple(VALID_ID_SETS)} or a list of ids')
        valid_ids = VALID_ID_SETS[valid_ids]
    return np.unique(np.asarray(list(valid_ids), dtype=np.int64))


@lru_cache(maxsize=None)
def _lut_and_known(label_set: str,
                   class_map: Optional[str]) -> Tuple[np.ndarray, np.ndarray]:
    lut, _ = build_label_lut(label_set, class_map)
    known = np.zeros(256, dtype=bool)
    known[known_label_values(label_set)] = True
    return lut, known


@TRANSFORMS.register_module()
class LoadMultiTaskImageFromFile(BaseTransform):
    """Load the image of ``results['img_path']`` (BGR, like mmcv).

    Unlike ``mmcv.LoadImageFromFile`` a missing or undecodable file raises an
    error that names the file and what was expected.

    Required keys: ``img_path``. Added keys: ``img``, ``img_shape``,
    ``ori_shape``.

    Args:
        to_float32: convert the image to ``float32``.
        color_type: mmcv ``imfrombytes`` flag (``'color'``: 3-channel BGR).
        imdecode_backend: mmcv decoding backend.
        backend_args: mmengine file-backend arguments.
    """

    def __init__(self,
                 to_float32: bool = False,
                 color_type: str = 'color',
                 imdecode_backend: str = 'cv2',
                 backend_args: Optional[dict] = None) -> None:
        self.to_float32 = to_float32
        self.color_type = color_type
        self.imdecode_backend = imdecode_backend
        self.backend_args = None if backend_args is None else dict(
            backend_args)

    def transform(self, results: dict) -> dict:
        path = results['img_path']
        content = read_bytes(path, 'image', self.backend_args)
        try:
            img = mmcv.imfrombytes(
                content, flag=self.color_type, backend=self.imdecode_backend)
        except Exception as exc:
            raise DataFormatError(
                f'could not decode image file {path!r}: expected an image '
                f'file (PNG/JPEG) ({type(exc).__name__}: {exc})') from None
        if img is None or img.size == 0:
            raise DataFormatError(
                f'could not decode image file {path!r}: expected an image '
                'file (PNG/JPEG)')
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(to_float32={self.to_float32}, '
                f"color_type='{self.color_type}', "
                f"imdecode_backend='{self.imdecode_backend}', "
                f'backend_args={self.backend_args})')


@TRANSFORMS.register_module()
class LoadMultiTaskAnnotations(BaseTransform):
    """Decode each task's ground-truth file into the pipeline results.

    Reads the per-task paths of ``data_info`` (``seg_map_path``,
    ``depth_path``, ``normal_path``, ``edge_path``) and decodes them with the
    sample's ``decode_cfg`` (set by the dataset; see
    :data:`trttt_mm.datasets.base.DECODE_CFG_DOC`) into:

    - ``gt_seg_map`` ``(H, W) uint8``: train ids after the label LUT, 255 =
      ignore. File values outside the dataset's label set are an error.
    - ``gt_depth_map`` ``(H, W) float32`` metres; the invalid raw value,
      non-finite and negative values become 0 (invalid). Integer PNGs are
      scaled by ``decode_cfg['depth']['scale']`` (Taskonomy: ``v / 512``);
      a ``.npy`` must hold floats (an integer array is refused).
    - ``gt_normal_map`` ``(H, W, 3) float32`` unit vectors (x, y, z). A decoded
      vector whose norm lies outside ``normal_valid_range`` is not a normal
      (e.g. omnidata's masked value (128, 128, 128) decodes to a norm of
      about 0.007, and a black (0, 0, 0) pixel to about 1.73): it becomes
      the all-zero invalid vector. Others are normalised to unit length.
    - ``gt_edge_map`` ``(H, W) float32`` in {0, 1} (from ``.npy`` files,
      non-finite values become 255 = ignore). With
      ``decode_cfg['edge']['source'] == 'label_map'`` (PASCAL-Context) the
      edge path is a ``.mat`` label map and the edges are
      ``thin(|Laplacian| > 0)`` of it
      (:mod:`trttt_mm.datasets.label_edges`), cached per file in memory
      and, with ``cache_dir``, on disk.

    With ``decode_cfg['normal']['valid_label_map']`` (PASCAL-Context) a
    normal is kept only on pixels whose class in the sample's label map
    (``results['label_map_path']``) is one of ``valid_ids``; elsewhere it
    becomes the all-zero invalid vector.

    Every map must have the same (H, W) as the others and as the image's
    ``ori_shape`` (when the image was loaded first); 16-bit maps must be
    16-bit PNGs and 8-bit maps 8-bit PNGs.

    Args:
        tasks: tasks to load; None loads ``results['tasks']`` (all the tasks
            the dataset lists). Must be a subset of the sample's tasks.
        normal_valid_range: (min, max) norm of a decoded normal that counts
            as valid.
        imdecode_backend: mmcv decoding backend (``'cv2'`` reads 16-bit PNGs).
        backend_args: mmengine file-backend arguments.
    """

    def __init__(self,
                 tasks: Optional[Sequence[str]] = None,
                 normal_valid_range: Tuple[float, float] = (0.5, 1.5),
                 imdecode_backend: str = 'cv2',
                 backend_args: Optional[dict] = None) -> None:
        self.tasks = None if tasks is None else check_tasks(
            tasks, where='LoadMultiTaskAnnotations.tasks')
        lo, hi = normal_valid_range
        if not 0 <= lo < 1 < hi:
            raise ValueError('normal_valid_range must satisfy 0 <= min < 1 '
                             f'< max, got {normal_valid_range}')
        self.normal_valid_range = (float(lo), float(hi))
        self.imdecode_backend = imdecode_backend
        self.backend_args = None if backend_args is None else dict(
            backend_args)
        self._label_map_memo = None

    # ------------------------------------------------------------ decoders
    def _read(self, path: str, task: str) -> Tuple[bytes, bool]:
        content = read_bytes(path, f'{task} ({_TASK_FILES[task]})',
                             self.backend_args)
        return content, osp.splitext(path)[1].lower() == '.npy'

    def _load_semseg(self, path: str, cfg: dict) -> np.ndarray:
        if 'label_set' not in cfg:
            raise KeyError(
                "decode_cfg['semseg'] needs 'label_set' ('nyudv2', "
                "'taskonomy' or 'pascal'); build samples with a "
                'MultiTaskDataset')
        content, _ = self._read(path, 'semseg')
        what = 'semseg (semantic map)'
        arr = decode_png(content, path, what, 8, self.imdecode_backend)
        arr = single_channel(arr, path, what)
        lut, known = _lut_and_known(cfg['label_set'], cfg.get('class_map'))
        if not known[arr].all():
            bad = np.unique(arr[~known[arr]])
            raise DataFormatError(
                f'{what} file {path!r}: values {bad.tolist()[:20]} are not '
                f'ids of the {cfg["label_set"]!r} label set (expected '
                f'{describe_values(known)})')
        return lut[arr]

    def _load_depth(self, path: str, cfg: dict) -> np.ndarray:
        content, is_npy = self._read(path, 'depth')
        what = 'depth (depth map)'
        if is_npy:
            raw = load_npy(content, path, what)
            if raw.ndim == 3 and raw.shape[-1] == 1:
                raw = raw[..., 0]
            if raw.ndim != 2 or not np.issubdtype(raw.dtype, np.number):
                raise DataFormatError(
                    f'{what} file {path!r}: expected a (H, W) float array, '
                    f'got {raw.dtype} {raw.shape}')
            if not np.issubdtype(raw.dtype, np.floating):
                # integers are another unit (e.g. millimetres), and a .npy
                # carries no scale: reading them as metres is silently wrong
                span = f' in {raw.min()}..{raw.max()}' if raw.size and \
                    np.issubdtype(raw.dtype, np.integer) else ''
                raise DataFormatError(
                    f'{what} file {path!r}: holds {raw.dtype} values'
                    f'{span}; expected float depth in metres (0 = invalid). '
                    'Integer depth is usually millimetres: convert it, e.g. '
                    '`np.save(path, np.load(path).astype(np.float32) / '
                    '1000)`')
            invalid = np.zeros(raw.shape, dtype=bool)
        else:
            raw = decode_png(content, path, what, cfg.get('bit_depth', 16),
                             self.imdecode_backend)
            raw = single_channel(raw, path, what)
            invalid = np.zeros(raw.shape, dtype=bool)
        if cfg.get('invalid_value') is not None:
            invalid |= raw == cfg['invalid_value']
        depth = raw.astype(np.float32) / np.float32(cfg.get('scale', 1.0))
        invalid |= ~np.isfinite(depth)
        invalid |= depth < 0
        depth[invalid] = 0
        return depth

    def _load_normal(self, path: str, cfg: dict,
                     results: Optional[dict] = None) -> np.ndarray:
        content, is_npy = self._read(path, 'normal')
        what = 'normal (normal map)'
        if is_npy:
            vec = load_npy(content, path, what).astype(np.float32)
            if vec.ndim != 3 or vec.shape[2] != 3:
                raise DataFormatError(
                    f'{what} file {path!r}: expected a (H, W, 3) array, got '
                    f'{vec.shape}')
        else:
            bits = cfg.get('bit_depth', 8)
            arr = decode_color_png(content, path, what, bits,
                                   self.imdecode_backend)
            rgb = arr[..., 2::-1]  # BGR(A) -> RGB = (x, y, z)
            vec = rgb.astype(np.float32) * np.float32(
                2.0 / (2**bits - 1)) - 1.0
        vec = np.where(np.isfinite(vec), vec, np.float32(0))
        norm = np.linalg.norm(vec, axis=2, keepdims=True)
        lo, hi = self.normal_valid_range
        valid = (norm >= lo) & (norm <= hi)
        mask_cfg = cfg.get('valid_label_map')
        if mask_cfg:
            valid &= self._normal_class_mask(path, vec.shape[:2], mask_cfg,
                                             results or {})[..., None]
        return np.where(valid, vec / np.maximum(norm, 1e-12),
                        np.float32(0)).astype(np.float32)

    def _normal_class_mask(self, normal_path: str, shape: Tuple[int, int],
                           mask_cfg: dict, results: dict) -> np.ndarray:
        """True where the label map's class may carry a normal."""
        path_key = mask_cfg.get('path_key', 'label_map_path')
        if path_key not in results:
            raise KeyError(
                f'LoadMultiTaskAnnotations: decode_cfg normal.valid_label_map '
                f'needs {path_key!r} in the sample (image '
                f'{results.get("img_path")!r})')
        label_path = results[path_key]
        labels = self._label_map(label_path, mask_cfg.get('key', 'LabelMap'))
        if labels.shape != tuple(shape):
            raise DataFormatError(
                f'normal (normal map) file {normal_path!r} is '
                f'{shape[0]}x{shape[1]} but its label map {label_path!r} is '
                f'{labels.shape[0]}x{labels.shape[1]}; expected the same '
                'height x width')
        valid_ids = resolve_valid_ids(
            mask_cfg.get('valid_ids', 'pascal_context_normals'))
        return np.isin(labels, valid_ids)

    def _label_map(self, path: str, key: str) -> np.ndarray:
        """A ``.mat`` label map; the last one read is kept (normals and
        edges of one sample share it)."""
        memo = self._label_map_memo
        if memo is not None and memo[0] == (path, key):
            return memo[1]
        content = read_bytes(path, 'label map (.mat)', self.backend_args)
        arr = load_label_map(content, path, key)
        self._label_map_memo = ((path, key), arr)
        return arr

    def _load_edge(self, path: str, cfg: dict,
                   results: Optional[dict] = None) -> np.ndarray:
        source = cfg.get('source', 'file')
        if source == 'label_map':
            return self._label_map_edges(path, cfg)
        if source != 'file':
            raise ValueError(
                f"decode_cfg['edge']['source'] must be 'file' or "
                f"'label_map', got {source!r}")
        content, is_npy = self._read(path, 'edge')
        what = 'edge (edge map)'
        threshold = cfg.get('threshold', 0.5)
        if is_npy:
            raw = load_npy(content, path, what)
            if raw.ndim == 3 and raw.shape[-1] == 1:
                raw = raw[..., 0]
            if raw.ndim != 2:
                raise DataFormatError(
                    f'{what} file {path!r}: expected a (H, W) array, got '
                    f'{raw.shape}')
            raw = raw.astype(np.float32)
            # threshold None: continuous edge strength (the released
            # TR-TTT code regresses Taskonomy edges with L1)
            edge = raw.copy() if threshold is None else \
                (raw > threshold).astype(np.float32)
            edge[~np.isfinite(raw)] = 255
            return edge
        bits = cfg.get('bit_depth', 8)
        arr = decode_png(content, path, what, bits, self.imdecode_backend)
        arr = single_channel(arr, path, what)
        strength = arr.astype(np.float32) / (2**bits - 1)
        if threshold is None:  # continuous strength in [0, 1]
            return strength
        return (strength > threshold).astype(np.float32)

    def _label_map_edges(self, path: str, cfg: dict) -> np.ndarray:
        """``thin(|Laplacian(label map)| > 0)``, through the edge cache."""
        problem = path_problem(path)
        if problem:
            raise FileNotFoundError(
                f'edge (label map .mat) file {path!r} {problem}')
        key = cfg.get('key', 'LabelMap')
        cache = get_edge_cache(
            cfg.get('cache_dir'), cfg.get('cache_size', 12000))
        edges = cache.get(
            path, lambda: label_map_edges(self._label_map(path, key)),
            tag=key)
        return edges.astype(np.float32)

    # ------------------------------------------------------------ transform
    def transform(self, results: dict) -> dict:
        self._label_map_memo = None
        sample_tasks = tuple(results.get('tasks', ()))
        tasks = self.tasks if self.tasks is not None else sample_tasks
        if not tasks:
            raise KeyError(
                "LoadMultiTaskAnnotations: results has no 'tasks'; pass "
                'tasks=... or build samples with a MultiTaskDataset')
        decode_cfg: Dict[str, dict] = results.get('decode_cfg') or {}
        loaders = dict(
            semseg=self._load_semseg,
            depth=self._load_depth,
            normal=self._load_normal,
            edge=self._load_edge)
        shapes = {}
        if results.get('ori_shape') is not None and 'img_path' in results:
            shapes[results['img_path']] = tuple(results['ori_shape'][:2])
        for task in tasks:
            key = PATH_KEYS[task]
            if key not in results:
                raise KeyError(
                    f'LoadMultiTaskAnnotations: task {task!r} asked for but '
                    f'the sample has no {key!r} (its tasks: {sample_tasks}, '
                    f'image {results.get("img_path")!r})')
            path = results[key]
            if task in ('normal', 'edge'):
                arr = loaders[task](path, decode_cfg.get(task, {}), results)
            else:
                arr = loaders[task](path, decode_cfg.get(task, {}))
            shapes[path] = arr.shape[:2]
            results[GT_KEYS[task]] = arr
        if len(set(shapes.values())) > 1:
            listing = ', '.join(f'{p}: {s[0]}x{s[1]}'
                                for p, s in shapes.items())
            raise DataFormatError(
                'LoadMultiTaskAnnotations: the image and ground-truth maps of '
                f'one sample must have the same height x width; got {listing}')
        results['tasks'] = tuple(tasks)
        self._label_map_memo = None
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(tasks={self.tasks}, '
                f'normal_valid_range={self.normal_valid_range}, '
                f"imdecode_backend='{self.imdecode_backend}', "
                f'backend_args={self.backend_args})')

