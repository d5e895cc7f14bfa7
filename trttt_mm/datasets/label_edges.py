"""Edges from a label map (PASCAL-Context) and a cache for them.

PASCAL_MT has no edge files: the reference derives each image's edge map
from the PASCAL-Context ``LabelMap`` of ``pascal-context/trainval/<id>.mat``
as ``thin(|Laplacian(LabelMap)| > 0)``:

1. :func:`label_boundaries`: the 4-neighbour Laplacian (OpenCV's
   ``Laplacian`` with ``ksize=1``, kernel ``[[0,1,0],[1,-4,1],[0,1,0]]``,
   reflect-101 border) is non-zero where a pixel's label differs from its
   neighbours; this marks both sides of every label change (2 px wide).
2. :func:`thin`: morphological thinning (scikit-image's implementation of
   the two-subiteration parallel algorithm of Guo & Hall, 1989) reduces that
   band to a one-pixel-wide, 8-connected line without breaking it.

Computing this for every image in every epoch is wasted work, so
:class:`EdgeCache` keeps the results in an in-memory LRU and, optionally, in
a cache folder the user chooses (never the dataset folder).
"""
import hashlib
import os
import os.path as osp
import tempfile
import threading
from collections import OrderedDict
from typing import Callable, Optional, Tuple

import numpy as np
from skimage.morphology import thin as skimage_thin

#: Bump when the edge definition changes (invalidates on-disk caches).
EDGE_ALGORITHM_VERSION = 1


def thin(mask: np.ndarray, max_iter: Optional[int] = None) -> np.ndarray:
    """Thin a binary mask to one-pixel-wide, 8-connected lines.

    scikit-image's ``morphology.thin`` (Guo & Hall's parallel
    two-subiteration thinning), repeated until no pixel changes (or
    ``max_iter`` iterations). Pixels outside the image count as background.

    Args:
        mask: ``(H, W)`` array, non-zero = foreground.
        max_iter: at most this many iterations (None: until stable).

    Returns:
        ``(H, W) bool``, a subset of ``mask``.
    """
    img = np.asarray(mask).astype(bool)
    if img.ndim != 2:
        raise ValueError(f'thin expects a 2-D mask, got shape {img.shape}')
    return skimage_thin(img, max_num_iter=max_iter).astype(bool)


def label_boundaries(label_map: np.ndarray) -> np.ndarray:
    """``|Laplacian(label_map)| > 0`` (4-neighbour kernel, reflect-101)."""
    import cv2
    arr = np.asarray(label_map)
    if arr.ndim != 2:
        raise ValueError(
            f'label map must be 2-D, got shape {arr.shape}')
    lap = cv2.Laplacian(
        np.ascontiguousarray(arr, dtype=np.float64), cv2.CV_64F, ksize=1)
    return np.abs(lap) > 0


def label_map_edges(label_map: np.ndarray) -> np.ndarray:
    """Edges of a label map: ``thin(|Laplacian| > 0)``, ``(H, W) bool``."""
    return thin(label_boundaries(label_map))


def default_edge_cache_dir() -> str:
    """``$XDG_CACHE_HOME/trttt_mm/pascal_edges`` (``~/.cache/...``)."""
    base = os.environ.get('XDG_CACHE_HOME') or osp.join(
        osp.expanduser('~'), '.cache')
    return osp.join(base, 'trttt_mm', 'pascal_edges')


def is_inside(path: str, folder: str) -> bool:
    """Whether ``path`` is ``folder`` or lies below it (after symlinks)."""
    path = osp.realpath(path)
    folder = osp.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


class EdgeCache:
    """Per-file cache of derived edge maps: in-memory LRU plus optional disk.

    Entries are keyed by the source file's real path, size and modification
    time (and :data:`EDGE_ALGORITHM_VERSION`), so an edited file is never
    served stale edges. In memory, edges are stored bit-packed (an image of
    500 x 375 pixels takes 23 kB), so the default ``max_items`` covers
    PASCAL-Context's 10,103 train+val images in about 240 MB per process.

    On disk (``cache_dir`` not None), each entry is an 8-bit PNG (0/1)
    named by the key's SHA-1, written atomically; the folder is created on
    the first write. The cache never writes anywhere else.

    Args:
        max_items: LRU capacity (0 disables the in-memory cache).
        cache_dir: folder for the on-disk cache, or None for memory only.
    """

    def __init__(self, max_items: int = 12000,
                 cache_dir: Optional[str] = None) -> None:
        self.max_items = int(max_items)
        self.cache_dir = None if cache_dir is None else osp.abspath(
            osp.expanduser(cache_dir))
        self._items: 'OrderedDict[str, Tuple[Tuple[int, int], np.ndarray]]'
        self._items = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.disk_hits = 0
        self.misses = 0

    @staticmethod
    def key(path: str, tag: str = '') -> str:
        st = os.stat(path)
        return (f'{osp.realpath(path)}|{st.st_size}|{st.st_mtime_ns}|'
                f'v{EDGE_ALGORITHM_VERSION}|{tag}')

    def _disk_path(self, key: str) -> str:
        digest = hashlib.sha1(key.encode('utf-8')).hexdigest()
        return osp.join(self.cache_dir, digest[:2], digest + '.png')

    def _remember(self, key: str, edges: np.ndarray) -> None:
        if self.max_items <= 0:
            return
        packed = (edges.shape, np.packbits(edges.astype(bool), axis=None))
        with self._lock:
            self._items[key] = packed
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)

    def _recall(self, key: str) -> Optional[np.ndarray]:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
        shape, packed = item
        n = int(np.prod(shape))
        return np.unpackbits(packed, count=n).reshape(shape).astype(bool)

    def _read_disk(self, key: str) -> Optional[np.ndarray]:
        import cv2
        path = self._disk_path(key)
        if not osp.isfile(path):
            return None
        arr = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if arr is None or arr.ndim != 2:
            return None  # a damaged entry is recomputed and rewritten
        return arr > 0

    def _write_disk(self, key: str, edges: np.ndarray) -> None:
        import cv2
        path = self._disk_path(key)
        os.makedirs(osp.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            suffix='.png', prefix='.tmp_', dir=osp.dirname(path))
        os.close(fd)
        try:
            if not cv2.imwrite(tmp, edges.astype(np.uint8)):
                raise OSError(f'could not write edge cache file {tmp!r}')
            os.replace(tmp, path)
        finally:
            if osp.exists(tmp):
                os.remove(tmp)

    def get(self, path: str, compute: Callable[[], np.ndarray],
            tag: str = '') -> np.ndarray:
        """The cached edges of ``path``, computing them on a miss.

        Args:
            path: the source file (its identity keys the entry).
            compute: returns the ``(H, W) bool`` edges on a miss.
            tag: distinguishes several derived maps of one file.
        """
        key = self.key(path, tag)
        edges = self._recall(key)
        if edges is not None:
            self.hits += 1
            return edges
        if self.cache_dir is not None:
            edges = self._read_disk(key)
            if edges is not None:
                self.disk_hits += 1
                self._remember(key, edges)
                return edges
        self.misses += 1
        edges = np.asarray(compute()).astype(bool)
        self._remember(key, edges)
        if self.cache_dir is not None:
            self._write_disk(key, edges)
        return edges

    def clear(self) -> None:
        """Empty the in-memory part (the disk part is left alone)."""
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
