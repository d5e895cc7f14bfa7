"""One task's map as an RGB image (``(H, W, 3) uint8``), invalid pixels marked.

Conventions (docs/visualization.md):

* semseg: the dataset's palette blended over the image as mmseg's
  ``SegLocalVisualizer`` does (``image * (1 - alpha) + colour * alpha``);
* depth: a matplotlib colormap over a value range that the caller shares
  between the ground truth and every prediction of the same image;
* normals: RGB = ``(n + 1) / 2`` (x → R, y → G, z → B);
* edges: grey levels, 0 black, 1 white.

Invalid pixels (ignore label 255 or a class id outside the palette, depth
``<= 0``, all-zero normals, edge 255, and any non-finite value) are drawn as
a hatch of :data:`INVALID_COLOR` and black, which none of the maps above
produces as a pattern.
"""
from typing import Optional, Sequence, Tuple

import numpy as np

from ..tasks import IGNORE_VALUES

#: Colour of the hatch that marks invalid pixels (RGB).
INVALID_COLOR: Tuple[int, int, int] = (255, 0, 255)
#: Period of the hatch in pixels (half of it coloured, half black).
HATCH_PERIOD = 4


def _as_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def hatch_mask(shape: Tuple[int, int], period: int = HATCH_PERIOD
               ) -> np.ndarray:
    """Diagonal stripes: True where the hatch takes :data:`INVALID_COLOR`."""
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return ((yy + xx) // max(period // 2, 1)) % 2 == 0


def mark_invalid(rgb: np.ndarray, invalid: np.ndarray,
                 color: Sequence[int] = INVALID_COLOR) -> np.ndarray:
    """Paint the hatch over ``invalid`` pixels of ``rgb`` (in place).

    Returns:
        ``rgb``.
    """
    if invalid.any():
        stripes = hatch_mask(invalid.shape)
        rgb[invalid & stripes] = np.asarray(color, dtype=np.uint8)
        rgb[invalid & ~stripes] = 0
    return rgb


def semseg_invalid(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Pixels without a class of the palette (ignore 255 included)."""
    return (labels < 0) | (labels >= num_classes)


def draw_semseg(image: np.ndarray, labels: np.ndarray,
                palette: np.ndarray, alpha: float = 0.8) -> np.ndarray:
    """Blend the class colours of ``labels`` over ``image``.

    Args:
        image: ``(H, W, 3) uint8`` RGB.
        labels: ``(H, W)`` integer class ids; ids outside
            ``[0, len(palette))`` (e.g. 255) are invalid.
        palette: ``(C, 3)`` RGB colours, one per class.
        alpha: weight of the class colour.
    """
    palette = np.asarray(palette, dtype=np.float64).reshape(-1, 3)
    invalid = semseg_invalid(labels, len(palette))
    colour = palette[np.where(invalid, 0, labels)]
    out = _as_uint8(image.astype(np.float64) * (1 - alpha) + colour * alpha)
    return mark_invalid(out, invalid)


def depth_invalid(depth: np.ndarray, is_gt: bool) -> np.ndarray:
    """Non-finite values; for the ground truth also ``<= 0`` (no depth)."""
    bad = ~np.isfinite(depth)
    if is_gt:
        bad |= np.nan_to_num(depth, nan=0.0) <= IGNORE_VALUES['depth']
    return bad


def depth_range(maps: Sequence[Tuple[np.ndarray, np.ndarray]]
                ) -> Optional[Tuple[float, float]]:
    """``(min, max)`` over the valid pixels of every ``(depth, invalid)``
    pair, or None when no pixel is valid."""
    lo, hi = np.inf, -np.inf
    for depth, invalid in maps:
        valid = depth[~invalid]
        if valid.size:
            lo, hi = min(lo, float(valid.min())), max(hi, float(valid.max()))
    return None if lo > hi else (lo, hi)


def colormap_lut(name: str) -> np.ndarray:
    """``(256, 3) uint8`` RGB table of a matplotlib colormap.

    Raises:
        ValueError: naming the colormap when matplotlib does not know it.
    """
    import matplotlib
    try:
        cmap = matplotlib.colormaps[name]
    except KeyError:
        raise ValueError(f'unknown matplotlib colormap {name!r} (e.g. '
                         "'viridis', 'magma', 'turbo')") from None
    return _as_uint8(cmap(np.linspace(0.0, 1.0, 256))[:, :3] * 255)


def draw_depth(depth: np.ndarray, invalid: np.ndarray,
               value_range: Optional[Tuple[float, float]],
               lut: np.ndarray) -> np.ndarray:
    """Colour ``depth`` with ``lut`` over ``value_range`` (values outside
    are clipped; a degenerate range maps every valid pixel to the middle).

    Args:
        depth: ``(H, W)`` float.
        invalid: ``(H, W)`` bool, drawn as the hatch.
        value_range: ``(vmin, vmax)`` shared by the maps of one image.
        lut: ``(256, 3)`` colour table (:func:`colormap_lut`).
    """
    d = np.nan_to_num(depth.astype(np.float64), nan=0.0, posinf=0.0,
                      neginf=0.0)
    if value_range is None or value_range[1] <= value_range[0]:
        t = np.full(d.shape, 0.5)
    else:
        lo, hi = value_range
        t = np.clip((d - lo) / (hi - lo), 0.0, 1.0)
    out = lut[np.rint(t * 255).astype(np.int64)]
    return mark_invalid(out, invalid)


def normal_invalid(normals: np.ndarray, is_gt: bool) -> np.ndarray:
    """Pixels with a non-finite component; for the ground truth also the
    all-zero vectors. ``normals`` is ``(H, W, 3)``."""
    bad = ~np.isfinite(normals).all(axis=-1)
    if is_gt:
        bad |= (np.nan_to_num(normals) == IGNORE_VALUES['normal']).all(
            axis=-1)
    return bad


def draw_normal(normals: np.ndarray, invalid: np.ndarray) -> np.ndarray:
    """RGB = ``(n + 1) / 2``: ``(H, W, 3)`` unit vectors (x, y, z)."""
    n = np.nan_to_num(normals.astype(np.float64), nan=0.0, posinf=0.0,
                      neginf=0.0)
    out = _as_uint8((np.clip(n, -1.0, 1.0) + 1.0) * 0.5 * 255)
    return mark_invalid(out, invalid)


def edge_invalid(edges: np.ndarray, is_gt: bool) -> np.ndarray:
    """Non-finite values; for the ground truth also the ignore value 255."""
    bad = ~np.isfinite(edges)
    if is_gt:
        bad |= edges == IGNORE_VALUES['edge']
    return bad


def draw_edge(edges: np.ndarray, invalid: np.ndarray) -> np.ndarray:
    """Grey levels of ``(H, W)`` edge values in [0, 1] (probabilities or
    {0, 1} labels)."""
    e = np.nan_to_num(edges.astype(np.float64), nan=0.0, posinf=0.0,
                      neginf=0.0)
    grey = _as_uint8(np.clip(e, 0.0, 1.0) * 255)
    out = np.repeat(grey[..., None], 3, axis=-1)
    return mark_invalid(out, invalid)
