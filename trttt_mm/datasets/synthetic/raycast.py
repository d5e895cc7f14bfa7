"""Ray casting: the geometric ground truth of a sampled scene.

:func:`render_geometry` renders a :class:`~.sampling.Scene` with a numpy ray
caster vectorised over pixels, with a loop over the primitives. It draws no
random numbers: the same scene always gives the same maps. Conventions:

* Depth is z-buffer depth (distance along the optical axis), in metres.
* Normals are unit vectors in the **camera frame with x right, y up and z
  towards the viewer** (out of the screen): a wall seen head-on is
  ``(0, 0, 1)``, the floor seen from above has ``y > 0``. On disk they are
  stored as ``round((n + 1) / 2 * 255)`` in R, G, B order (x in R).
* Occlusion edges are binary: a pixel is an edge pixel when one of its
  4-neighbours belongs to a different object instance (room surfaces count as
  one instance, so room creases are not edges), or to a different primitive
  with a relative depth jump above ``EDGE_DEPTH_JUMP``. Both sides of the
  boundary are marked, so edges are two pixels wide.
"""
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .sampling import CLASS_INDEX, Camera, Primitive, Scene

#: Relative depth jump between two primitives that makes an occlusion edge.
EDGE_DEPTH_JUMP = 0.03

_EPS = 1e-6


def ray_directions(cam: Camera) -> np.ndarray:
    """Per-pixel ray directions ``(H*W, 3)`` of a pinhole camera, scaled so
    that the component along ``forward`` is 1 (the ray parameter is
    z-depth)."""
    h, w = cam.height, cam.width
    xs = (np.arange(w, dtype=np.float64) + 0.5 - w / 2) / cam.focal
    ys = -(np.arange(h, dtype=np.float64) + 0.5 - h / 2) / cam.focal
    xx, yy = np.meshgrid(xs, ys)
    d = (cam.forward[None, :] + xx.reshape(-1, 1) * cam.right[None, :] +
         yy.reshape(-1, 1) * cam.up[None, :])
    return d


def _hit_box(o, d, inv, params):
    """Slab test. ``d``/``inv``: tuples of per-axis 1D arrays."""
    tn, tf = [], []
    for k in range(3):
        t1 = (params[k] - o[k]) * inv[k]
        t2 = (params[k + 3] - o[k]) * inv[k]
        tn.append(np.minimum(t1, t2))
        tf.append(np.maximum(t1, t2))
    tnear = np.maximum(np.maximum(tn[0], tn[1]), tn[2])
    tfar = np.minimum(np.minimum(tf[0], tf[1]), tf[2])
    t = np.where((tnear <= tfar) & (tnear > _EPS), tnear, np.inf)

    def normals(idx):
        a, b, c = tn[0][idx], tn[1][idx], tn[2][idx]
        axis = np.where((a >= b) & (a >= c), 0, np.where(b >= c, 1, 2))
        n = np.zeros((idx.size, 3))
        rows = np.arange(idx.size)
        dsel = np.stack([d[0][idx], d[1][idx], d[2][idx]], axis=1)
        n[rows, axis] = -np.sign(dsel[rows, axis])
        return n

    return t, normals


def _hit_cyl(o, d, params):
    """Vertical cylinder with caps (the camera is outside it)."""
    cx, cz, r, y0, y1 = params
    ox, oz = o[0] - cx, o[2] - cz
    dx, dy, dz = d
    a = dx * dx + dz * dz
    b = 2 * (ox * dx + oz * dz)
    c = ox * ox + oz * oz - r * r
    disc = b * b - 4 * a * c
    with np.errstate(invalid='ignore', divide='ignore'):
        ts = (-b - np.sqrt(disc)) / (2 * a)
        ys = o[1] + ts * dy
        side = (disc >= 0) & (ts > _EPS) & (ys >= y0) & (ys <= y1)
        t = np.where(side, ts, np.inf)
        cap_y = y1 if o[1] > y1 else (y0 if o[1] < y0 else None)
        cap = np.zeros_like(side)
        if cap_y is not None:
            tc = (cap_y - o[1]) / dy
            px, pz = ox + tc * dx, oz + tc * dz
            cap = (tc > _EPS) & (px * px + pz * pz <= r * r) & (tc < t)
            t = np.where(cap, tc, t)
    sign = 1.0 if o[1] > y1 else -1.0

    def normals(idx):
        n = np.zeros((idx.size, 3))
        tt = t[idx]
        n[:, 0] = (ox + tt * dx[idx]) / r
        n[:, 2] = (oz + tt * dz[idx]) / r
        n[cap[idx]] = (0.0, sign, 0.0)
        return n

    return t, normals


def _hit_sph(o, d, params):
    cx, cy, cz, r = params
    ox, oy, oz = o[0] - cx, o[1] - cy, o[2] - cz
    dx, dy, dz = d
    a = dx * dx + dy * dy + dz * dz
    b = 2 * (dx * ox + dy * oy + dz * oz)
    cc = ox * ox + oy * oy + oz * oz - r * r
    disc = b * b - 4 * a * cc
    with np.errstate(invalid='ignore'):
        t = (-b - np.sqrt(disc)) / (2 * a)
    t = np.where((disc >= 0) & (t > _EPS), t, np.inf)

    def normals(idx):
        tt = t[idx]
        return np.stack([ox + tt * dx[idx], oy + tt * dy[idx],
                         oz + tt * dz[idx]], axis=1) / r

    return t, normals


_HIT = {'box': _hit_box, 'cyl': _hit_cyl, 'sph': _hit_sph}


def _bounds(p: Primitive) -> np.ndarray:
    """World-space axis-aligned bounds ``(lo, hi)`` of a primitive."""
    if p.kind == 'box':
        return np.array([p.params[:3], p.params[3:]])
    if p.kind == 'cyl':
        cx, cz, r, y0, y1 = p.params
        return np.array([[cx - r, y0, cz - r], [cx + r, y1, cz + r]])
    cx, cy, cz, r = p.params
    return np.array([[cx - r, cy - r, cz - r], [cx + r, cy + r, cz + r]])


def _screen_pixels(cam: Camera, bounds: np.ndarray) -> Optional[np.ndarray]:
    """Flat indices of the pixels that the bounds can cover.

    ``None`` means every pixel (bounds reach behind the camera); an empty
    array means none.
    """
    lo, hi = bounds
    corners = np.array([[x, y, z] for x in (lo[0], hi[0])
                        for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    rel = corners - cam.position
    z = rel @ cam.forward
    if (z < 1e-3).any():
        return None
    px = (rel @ cam.right) / z * cam.focal + cam.width / 2
    py = -(rel @ cam.up) / z * cam.focal + cam.height / 2
    c0 = max(int(np.floor(px.min() - 0.5)), 0)
    c1 = min(int(np.ceil(px.max() + 0.5)), cam.width)
    r0 = max(int(np.floor(py.min() - 0.5)), 0)
    r1 = min(int(np.ceil(py.max() + 0.5)), cam.height)
    if c0 >= c1 or r0 >= r1:
        return np.zeros(0, dtype=np.int64)
    rows = np.arange(r0, r1)
    cols = np.arange(c0, c1)
    return (rows[:, None] * cam.width + cols[None, :]).ravel()


@dataclass
class GeometryMaps:
    """Per-pixel geometric ground truth of one view (all ``(H, W[, 3])``).

    Attributes:
        depth: z-buffer depth in metres (float32), finite everywhere.
        depth_valid: bool, False where a depth sensor/renderer gives no value
            (window glass).
        normal: unit normals in the camera frame (x right, y up, z to viewer).
        normal_world: unit normals in the world frame (for shading).
        points: world coordinates of the surface points (for textures).
        cls: generator class index (see ``CLASSES``), uint8.
        instance: instance id (0 = room surfaces), int16.
        primitive: primitive id (0..5 room faces, 6.. objects), int16.
        edge: binary occlusion edges, bool.
        shade: per-pixel albedo multiplier of the part that was hit.
    """
    depth: np.ndarray
    depth_valid: np.ndarray
    normal: np.ndarray
    normal_world: np.ndarray
    points: np.ndarray
    cls: np.ndarray
    instance: np.ndarray
    primitive: np.ndarray
    edge: np.ndarray
    shade: np.ndarray


def occlusion_edges(depth: np.ndarray, instance: np.ndarray,
                    primitive: np.ndarray,
                    jump: float = EDGE_DEPTH_JUMP) -> np.ndarray:
    """Binary occlusion edges from depth, instance and primitive maps.

    See the module docstring for the rule.
    """
    edge = np.zeros(depth.shape, dtype=bool)
    for axis in (0, 1):
        sl_a = [slice(None), slice(None)]
        sl_b = [slice(None), slice(None)]
        sl_a[axis] = slice(None, -1)
        sl_b[axis] = slice(1, None)
        sa, sb = tuple(sl_a), tuple(sl_b)
        ia, ib = instance[sa], instance[sb]
        da, db = depth[sa], depth[sb]
        rel = np.abs(da - db) / np.minimum(da, db)
        e = (ia != ib) & ((ia > 0) | (ib > 0))
        e |= (primitive[sa] != primitive[sb]) & (rel > jump)
        edge[sa] |= e
        edge[sb] |= e
    return edge


def render_geometry(scene: Scene) -> GeometryMaps:
    """Ray-cast ``scene`` and return its geometric ground truth."""
    cam = scene.camera
    h, w = cam.height, cam.width
    o = cam.position
    d = ray_directions(cam)
    d_safe = np.where(np.abs(d) < 1e-12, 1e-12, d)
    inv = 1.0 / d_safe
    n_pix = d.shape[0]
    rx, ry, rz = scene.room

    # the room: exit point of the inside of a box
    bounds_hi = np.array([rx, ry, rz])
    t_axis = np.where(d_safe > 0, (bounds_hi - o) * inv, (0.0 - o) * inv)
    axis = t_axis.argmin(axis=1)
    t_best = t_axis[np.arange(n_pix), axis]
    positive = d_safe[np.arange(n_pix), axis] > 0
    # room primitive ids: 0 x=0, 1 x=max, 2 floor, 3 ceiling, 4 z=0, 5 z=max
    prim = (2 * axis + positive).astype(np.int16)
    normal_w = np.zeros((n_pix, 3))
    normal_w[np.arange(n_pix), axis] = np.where(positive, -1.0, 1.0)
    cls = np.full(n_pix, CLASS_INDEX['wall'], dtype=np.uint8)
    cls[prim == 2] = CLASS_INDEX['floor']
    cls[prim == 3] = CLASS_INDEX['ceiling']
    inst = np.zeros(n_pix, dtype=np.int16)
    shade = np.ones(n_pix)

    axes = tuple(np.ascontiguousarray(d_safe[:, k]) for k in range(3))
    inv_axes = tuple(np.ascontiguousarray(inv[:, k]) for k in range(3))
    for pid, p in enumerate(scene.primitives, start=6):
        if p.kind not in _HIT:
            raise ValueError(f'unknown primitive kind {p.kind!r}')
        pix = _screen_pixels(cam, _bounds(p))
        if pix is None:
            dd, ii, tb = axes, inv_axes, t_best
        elif pix.size == 0:
            continue
        else:
            dd = tuple(x[pix] for x in axes)
            ii = tuple(x[pix] for x in inv_axes)
            tb = t_best[pix]
        if p.kind == 'box':
            t, nfun = _hit_box(o, dd, ii, p.params)
        else:
            t, nfun = _HIT[p.kind](o, dd, p.params)
        local = np.flatnonzero(t < tb)
        if local.size == 0:
            continue
        idx = local if pix is None else pix[local]
        t_best[idx] = t[local]
        normal_w[idx] = nfun(local)
        prim[idx] = pid
        cls[idx] = p.cls
        inst[idx] = p.instance
        shade[idx] = p.shade

    points = o[None, :] + t_best[:, None] * d
    normal_w /= np.linalg.norm(normal_w, axis=1, keepdims=True)
    normal_c = np.stack([
        normal_w @ cam.right, normal_w @ cam.up, -(normal_w @ cam.forward)
    ], axis=1)

    depth_valid = np.ones(n_pix, dtype=bool)
    win = scene.window
    if win is not None:
        wall_prim = {'x0': 0, 'x1': 1, 'z1': 5}[win['wall']]
        along = points[:, 0] if win['wall'] == 'z1' else points[:, 2]
        m = ((prim == wall_prim) & (along >= win['a0']) &
             (along <= win['a1']) & (points[:, 1] >= win['y0']) &
             (points[:, 1] <= win['y1']))
        cls[m] = CLASS_INDEX['window']
        depth_valid[m] = False

    depth = t_best.reshape(h, w)
    instance = inst.reshape(h, w)
    primitive = prim.reshape(h, w)
    edge = occlusion_edges(depth, instance, primitive)
    return GeometryMaps(
        depth=depth.astype(np.float32),
        depth_valid=depth_valid.reshape(h, w),
        normal=normal_c.reshape(h, w, 3).astype(np.float32),
        normal_world=normal_w.reshape(h, w, 3),
        points=points.reshape(h, w, 3),
        cls=cls.reshape(h, w),
        instance=instance,
        primitive=primitive,
        edge=edge,
        shade=shade.reshape(h, w))
