"""Scene sampling: random rooms, furniture and cameras.

A scene is a box-shaped room (floor, four walls, ceiling; optionally a window)
holding a few pieces of furniture, each built from axis-aligned boxes, vertical
cylinders and spheres. Every class has its own construction rule (a
refrigerator is a tall box with handles, a table a slab on four legs, ...), so
the relation between semantics, depth, normals and occlusion edges is fixed by
the geometry alone and is identical in every appearance domain.

This module only *describes* scenes: :func:`sample_scene` draws every random
parameter (room size, camera pose, objects and their placement, window,
picture) from one ``numpy`` generator and returns a :class:`Scene`. The
ranges it draws from are a :class:`SceneParams`; the default one
(:data:`SOURCE_SCENE`) is the source domain's, and the shift families of
:mod:`.families` change some of them. Turning a scene into per-pixel maps is
the job of :mod:`.raycast`.

World frame: ``y`` up, floor at ``y = 0``; the room spans
``[0, room_x] x [0, room_height] x [0, room_z]``.
"""
from dataclasses import dataclass, field
from dataclasses import replace
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

#: Every label the generator knows, in the order of its internal class index.
CLASSES: Tuple[str, ...] = ('wall', 'floor', 'ceiling', 'window',
                            'refrigerator', 'table', 'toilet', 'sofa', 'bed',
                            'sink', 'chair', 'cabinet', 'picture')
CLASS_INDEX: Dict[str, int] = {name: i for i, name in enumerate(CLASSES)}

#: The seven classes that every layout shares (Taskonomy <-> NYUD-v2).
SHARED_CLASSES: Tuple[str, ...] = ('refrigerator', 'table', 'toilet', 'sofa',
                                   'bed', 'sink', 'chair')
#: Room surfaces (one instance, id 0).
ROOM_CLASSES: Tuple[str, ...] = ('wall', 'floor', 'ceiling', 'window')
#: Objects that are not one of the shared classes.
DISTRACTOR_CLASSES: Tuple[str, ...] = ('cabinet', 'picture')

Range = Tuple[float, float]


@dataclass(frozen=True)
class SceneParams:
    """The ranges :func:`sample_scene` draws a scene from.

    Every range is inclusive and drawn uniformly; a range whose two ends are
    equal is a constant and draws no random number. The defaults are the
    source domain (:data:`SOURCE_SCENE`); changing a field changes the scene
    distribution, not the draw order of the fields left at their defaults.

    Attributes:
        hfov_deg: horizontal field of view (degrees), per image.
        room_x, room_z: room floor size (metres).
        room_height: room height (metres).
        cam_x_frac: camera x as a fraction of the room width.
        cam_height: camera height above the floor (metres).
        cam_z: camera distance from the wall behind it (metres).
        yaw_jitter_deg: the camera looks at the far wall's centre +- this.
        pitch_down_deg: downward tilt of the camera (degrees).
        roll_deg: camera roll is drawn in +- this (degrees).
        num_objects: inclusive range of the number of shared-class objects.
        class_probs: probability of each of :data:`SHARED_CLASSES` (in that
            order) per object, or None for uniform.
        size_scale: every length of an object is multiplied by one factor
            drawn from this range (per object).
        aim_rows: objects are placed where the rays through random image
            rows in this range (fractions of the height, 0 = top) meet the
            floor.
        orientation_probs: probabilities of the four quarter turns of an
            object (0: facing the camera's side of the room).
        distractor_prob: probability of one cabinet (a distractor class).
        window_prob, picture_prob: probability of a window / a picture.
    """
    hfov_deg: Range = (62.0, 62.0)
    room_x: Range = (3.5, 6.5)
    room_height: Range = (2.5, 3.0)
    room_z: Range = (3.5, 6.5)
    cam_x_frac: Range = (0.3, 0.7)
    cam_height: Range = (1.1, 1.6)
    cam_z: Range = (0.3, 0.8)
    yaw_jitter_deg: float = 25.0
    pitch_down_deg: Range = (8.0, 30.0)
    roll_deg: float = 3.0
    num_objects: Tuple[int, int] = (2, 5)
    class_probs: Optional[Tuple[float, ...]] = None
    size_scale: Range = (1.0, 1.0)
    aim_rows: Range = (0.35, 0.85)
    orientation_probs: Tuple[float, float, float, float] = (0.5, 0.2, 0.1,
                                                            0.2)
    distractor_prob: float = 0.4
    window_prob: float = 0.6
    picture_prob: float = 0.5

    def __post_init__(self):
        for name in ('hfov_deg', 'room_x', 'room_height', 'room_z',
                     'cam_x_frac', 'cam_height', 'cam_z', 'pitch_down_deg',
                     'size_scale', 'aim_rows'):
            lo, hi = getattr(self, name)
            if not lo <= hi:
                raise ValueError(f'SceneParams.{name} must be a range (lo, '
                                 f'hi) with lo <= hi, got {(lo, hi)}')
        if not (0 < self.hfov_deg[0] and self.hfov_deg[1] < 170):
            raise ValueError('SceneParams.hfov_deg must lie in (0, 170), '
                             f'got {self.hfov_deg}')
        if min(self.room_x[0], self.room_z[0]) < 2.0 or \
                self.room_height[0] < 2.0:
            raise ValueError('SceneParams: rooms must be at least 2 m in '
                             f'each direction, got room_x={self.room_x}, '
                             f'room_z={self.room_z}, '
                             f'room_height={self.room_height}')
        if self.cam_height[1] >= self.room_height[0]:
            raise ValueError(f'SceneParams.cam_height {self.cam_height} '
                             'must stay below the lowest ceiling '
                             f'{self.room_height[0]}')
        if self.cam_z[0] <= 0 or self.cam_z[1] >= self.room_z[0]:
            raise ValueError(f'SceneParams.cam_z {self.cam_z} must lie '
                             f'inside the room (0, {self.room_z[0]})')
        lo, hi = self.num_objects
        if not 0 <= lo <= hi:
            raise ValueError('SceneParams.num_objects must be (lo, hi) with '
                             f'0 <= lo <= hi, got {self.num_objects}')
        if self.size_scale[0] <= 0:
            raise ValueError('SceneParams.size_scale must be positive, got '
                             f'{self.size_scale}')
        if not (0 <= self.aim_rows[0] and self.aim_rows[1] <= 1):
            raise ValueError('SceneParams.aim_rows must lie in [0, 1], got '
                             f'{self.aim_rows}')
        for name, probs, n in (('class_probs', self.class_probs,
                                len(SHARED_CLASSES)),
                               ('orientation_probs', self.orientation_probs,
                                4)):
            if probs is None:
                continue
            if len(probs) != n or min(probs) < 0 or \
                    abs(sum(probs) - 1.0) > 1e-9:
                raise ValueError(f'SceneParams.{name} must be {n} '
                                 'non-negative probabilities summing to 1, '
                                 f'got {probs}')
        for name in ('distractor_prob', 'window_prob', 'picture_prob'):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f'SceneParams.{name} must lie in [0, 1], '
                                 f'got {getattr(self, name)}')

    def to_dict(self) -> dict:
        """The parameters as a JSON-friendly dict (lists for tuples)."""
        out = {}
        for name in self.__dataclass_fields__:
            v = getattr(self, name)
            out[name] = list(v) if isinstance(v, tuple) else v
        return out


#: The source domain's scene distribution (every field at its default).
SOURCE_SCENE = SceneParams()


# --------------------------------------------------------------------------
# scene description
# --------------------------------------------------------------------------
@dataclass
class Primitive:
    """One solid: ``kind`` is ``'box'``, ``'cyl'`` (vertical) or ``'sph'``.

    ``params``: box ``(x0, y0, z0, x1, y1, z1)``; cylinder
    ``(cx, cz, radius, y0, y1)``; sphere ``(cx, cy, cz, radius)``.
    ``shade`` scales the albedo of this part (e.g. darker legs).
    """
    kind: str
    params: Tuple[float, ...]
    instance: int
    cls: int
    shade: float = 1.0


@dataclass
class Camera:
    """Pinhole camera: position, unit forward/right/up vectors, focal (px)."""
    position: np.ndarray
    forward: np.ndarray
    right: np.ndarray
    up: np.ndarray
    focal: float
    height: int
    width: int


@dataclass
class Scene:
    """A room, a camera and the primitives of the furniture in it."""
    room: Tuple[float, float, float]  # (size x, height y, size z)
    camera: Camera
    primitives: List[Primitive]
    instance_classes: List[int]  # class index per instance (0 = room)
    window: Optional[Dict[str, float]] = None
    extras: Dict[str, float] = field(default_factory=dict)

    @property
    def num_instances(self) -> int:
        return len(self.instance_classes)


def _rot_xz(x: float, z: float, k: int) -> Tuple[float, float]:
    """Rotate a point in the floor plane by ``k`` quarter turns."""
    k %= 4
    if k == 0:
        return x, z
    if k == 1:
        return z, -x
    if k == 2:
        return -x, -z
    return -z, x


class _ObjectBuilder:
    """Collects primitives given in an object's local frame.

    Local frame: the footprint is ``[-w/2, w/2] x [-d/2, d/2]``, the front of
    the object faces local ``-z``; it is rotated by ``k`` quarter turns about
    ``y`` and moved to ``(cx, cz)`` on the floor.
    """

    def __init__(self, cx: float, cz: float, k: int, instance: int,
                 cls: int, y0: float = 0.0):
        self.cx, self.cz, self.k = cx, cz, k
        self.instance, self.cls, self.y0 = instance, cls, y0
        self.prims: List[Primitive] = []

    def box(self, x0, x1, y0, y1, z0, z1, shade=1.0):
        ax, az = _rot_xz(x0, z0, self.k)
        bx, bz = _rot_xz(x1, z1, self.k)
        self.prims.append(
            Primitive('box', (min(ax, bx) + self.cx, y0 + self.y0,
                              min(az, bz) + self.cz, max(ax, bx) + self.cx,
                              y1 + self.y0, max(az, bz) + self.cz),
                      self.instance, self.cls, shade))

    def cyl(self, x, z, r, y0, y1, shade=1.0):
        px, pz = _rot_xz(x, z, self.k)
        self.prims.append(
            Primitive('cyl', (px + self.cx, pz + self.cz, r, y0 + self.y0,
                              y1 + self.y0), self.instance, self.cls, shade))

    def sph(self, x, y, z, r, shade=1.0):
        px, pz = _rot_xz(x, z, self.k)
        self.prims.append(
            Primitive('sph', (px + self.cx, y + self.y0, pz + self.cz, r),
                      self.instance, self.cls, shade))


# --------------------------------------------------------------------------
# class construction rules: size ranges and primitive layouts
# --------------------------------------------------------------------------
#: Parameters of :func:`_footprint` that are not lengths (not scaled).
_UNSCALED = ('split', 'round_legs', 'pillows', 'drawers')


def _scaled(p: Dict[str, float], s: float) -> Dict[str, float]:
    """Multiply every length of a footprint by ``s``."""
    return {k: (v if k in _UNSCALED else v * s) for k, v in p.items()}


def _footprint(cls_name: str, rng: np.random.Generator) -> Dict[str, float]:
    """Draw the size parameters of an object of class ``cls_name``."""
    u = rng.uniform
    if cls_name == 'refrigerator':
        return dict(w=u(0.6, 0.9), d=u(0.6, 0.8), h=u(1.6, 2.0),
                    split=u(0.55, 0.7))
    if cls_name == 'table':
        return dict(w=u(0.8, 1.6), d=u(0.6, 1.0), h=u(0.70, 0.78),
                    top=u(0.03, 0.05), leg=u(0.025, 0.04),
                    round_legs=float(rng.random() < 0.5))
    if cls_name == 'toilet':
        r = u(0.18, 0.22)
        return dict(w=u(0.38, 0.48), d=2 * r + u(0.18, 0.24), h=u(0.7, 0.85),
                    r=r, bowl_h=u(0.38, 0.43), tank_d=u(0.16, 0.22))
    if cls_name == 'sofa':
        return dict(w=u(1.6, 2.4), d=u(0.8, 1.0), seat_h=u(0.40, 0.48),
                    h=u(0.80, 0.95), back=u(0.18, 0.25), arm=u(0.15, 0.22),
                    arm_h=u(0.58, 0.66))
    if cls_name == 'bed':
        return dict(w=u(1.4, 2.0), d=u(1.9, 2.2), base_h=u(0.25, 0.35),
                    mat_h=u(0.15, 0.22), head_h=u(0.9, 1.2),
                    head_t=u(0.06, 0.09), pillows=float(rng.integers(1, 3)))
    if cls_name == 'sink':
        return dict(w=u(0.5, 0.9), d=u(0.45, 0.55), h=u(0.8, 0.9),
                    basin=u(0.12, 0.15), rim=u(0.06, 0.09))
    if cls_name == 'chair':
        return dict(w=u(0.40, 0.50), d=u(0.40, 0.50), seat_h=u(0.42, 0.48),
                    seat_t=u(0.04, 0.06), back_h=u(0.35, 0.50),
                    leg=u(0.03, 0.04))
    if cls_name == 'cabinet':
        return dict(w=u(0.4, 1.0), d=u(0.35, 0.5), h=u(0.5, 1.0),
                    drawers=float(rng.integers(2, 4)))
    raise ValueError(f'no construction rule for class {cls_name!r}')


def _build_object(cls_name: str, p: Dict[str, float], b: _ObjectBuilder):
    """Append the primitives of one object to ``b`` (local frame)."""
    w, d = p['w'], p['d']
    hw, hd = w / 2, d / 2
    if cls_name == 'refrigerator':
        h = p['h']
        b.box(-hw, hw, 0, h, -hd + 0.02, hd)
        # two doors, the upper one slightly proud; vertical handles
        ys = h * p['split']
        b.box(-hw + 0.01, hw - 0.01, 0.05, ys - 0.01, -hd, -hd + 0.02)
        b.box(-hw + 0.01, hw - 0.01, ys + 0.01, h - 0.02, -hd - 0.01,
              -hd + 0.02)
        hx = hw - 0.08
        b.box(hx - 0.015, hx + 0.015, ys - 0.45, ys - 0.1, -hd - 0.05, -hd,
              shade=0.45)
        b.box(hx - 0.015, hx + 0.015, ys + 0.1, ys + 0.4, -hd - 0.06,
              -hd - 0.01, shade=0.45)
    elif cls_name == 'table':
        h, t, leg = p['h'], p['top'], p['leg']
        b.box(-hw, hw, h - t, h, -hd, hd)
        for sx in (-1, 1):
            for sz in (-1, 1):
                x = sx * (hw - 0.06)
                z = sz * (hd - 0.06)
                if p['round_legs'] > 0.5:
                    b.cyl(x, z, leg, 0, h - t, shade=0.8)
                else:
                    b.box(x - leg, x + leg, 0, h - t, z - leg, z + leg,
                          shade=0.8)
    elif cls_name == 'toilet':
        r, bh, td = p['r'], p['bowl_h'], p['tank_d']
        zc = -hd + r  # bowl centre, at the front
        b.cyl(0, zc, 0.6 * r, 0, 0.16, shade=0.95)  # pedestal
        b.cyl(0, zc, r, 0.16, bh - 0.03)  # bowl
        b.cyl(0, zc, r + 0.015, bh - 0.03, bh, shade=0.9)  # seat
        b.box(-hw, hw, bh - 0.05, p['h'], hd - td, hd)  # tank
        b.box(-hw - 0.01, hw + 0.01, p['h'], p['h'] + 0.03, hd - td - 0.01,
              hd, shade=0.9)  # tank lid
        b.cyl(0, hd - td / 2, 0.1, 0.16, bh - 0.05, shade=0.95)  # neck
    elif cls_name == 'sofa':
        sh, h, bk, arm, ah = (p['seat_h'], p['h'], p['back'], p['arm'],
                              p['arm_h'])
        b.box(-hw + arm, hw - arm, 0.08, sh - 0.1, -hd, hd - bk)  # base
        b.box(-hw + arm, hw - arm, sh - 0.1, sh, -hd + 0.02, hd - bk,
              shade=1.1)  # cushions
        b.box(-hw, hw, 0.08, h, hd - bk, hd)  # back
        for s in (-1, 1):
            x0, x1 = sorted((s * hw, s * (hw - arm)))
            b.box(x0, x1, 0.08, ah, -hd, hd - bk)  # arms
            for z in (-hd + 0.05, hd - 0.05):
                x = s * (hw - 0.06)
                b.box(x - 0.03, x + 0.03, 0, 0.08, z - 0.03, z + 0.03,
                      shade=0.4)  # feet
    elif cls_name == 'bed':
        bh, mh, hh, ht = p['base_h'], p['mat_h'], p['head_h'], p['head_t']
        b.box(-hw, hw, 0, bh, -hd, hd - ht, shade=0.7)  # frame
        b.box(-hw + 0.03, hw - 0.03, bh, bh + mh, -hd + 0.03, hd - ht,
              shade=1.15)  # mattress
        b.box(-hw, hw, 0, hh, hd - ht, hd, shade=0.7)  # headboard
        n = int(p['pillows'])
        pw = (w - 0.2) / n
        for i in range(n):
            x0 = -hw + 0.1 + i * pw + 0.03
            b.box(x0, x0 + pw - 0.06, bh + mh, bh + mh + 0.12, hd - ht - 0.45,
                  hd - ht - 0.05, shade=1.3)  # pillows
    elif cls_name == 'sink':
        h, bs, rim = p['h'], p['basin'], p['rim']
        b.box(-hw, hw, 0, h - bs, -hd, hd)  # vanity + basin floor
        b.box(-hw, hw, h - bs, h, -hd, -hd + rim)  # front rim
        b.box(-hw, hw, h - bs, h, hd - 2 * rim, hd)  # back rim
        b.box(-hw, -hw + rim, h - bs, h, -hd + rim, hd - 2 * rim)
        b.box(hw - rim, hw, h - bs, h, -hd + rim, hd - 2 * rim)
        zf = hd - rim
        b.cyl(0, zf, 0.015, h, h + 0.2, shade=0.5)  # faucet
        b.sph(0, h + 0.2, zf, 0.03, shade=0.5)
        b.box(-0.012, 0.012, h + 0.16, h + 0.19, zf - 0.14, zf, shade=0.5)
        b.box(-hw + 0.02, hw - 0.02, 0.1, h - bs - 0.05, -hd - 0.01, -hd,
              shade=0.85)  # doors
    elif cls_name == 'chair':
        sh, st, bkh, leg = p['seat_h'], p['seat_t'], p['back_h'], p['leg']
        b.box(-hw, hw, sh - st, sh, -hd, hd)  # seat
        b.box(-hw, hw, sh, sh + bkh, hd - 0.04, hd)  # back
        for sx in (-1, 1):
            for sz in (-1, 1):
                x = sx * (hw - leg)
                z = sz * (hd - leg)
                b.box(x - leg / 2, x + leg / 2, 0, sh - st, z - leg / 2,
                      z + leg / 2, shade=0.6)
    elif cls_name == 'cabinet':
        h = p['h']
        b.box(-hw, hw, 0, h, -hd + 0.015, hd)
        n = int(p['drawers'])
        dh = (h - 0.06) / n
        for i in range(n):
            y0 = 0.04 + i * dh
            b.box(-hw + 0.02, hw - 0.02, y0 + 0.01, y0 + dh - 0.01, -hd,
                  -hd + 0.015, shade=0.9)
            b.box(-0.06, 0.06, y0 + dh / 2 - 0.01, y0 + dh / 2 + 0.01,
                  -hd - 0.03, -hd, shade=0.4)
    else:
        raise ValueError(f'no construction rule for class {cls_name!r}')


# --------------------------------------------------------------------------
# scene sampling
# --------------------------------------------------------------------------
def _look_basis(yaw: float, pitch: float,
                roll: float) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    f = np.array([np.sin(yaw) * np.cos(pitch), np.sin(pitch),
                  np.cos(yaw) * np.cos(pitch)])
    r = np.cross(f, [0.0, 1.0, 0.0])
    r /= np.linalg.norm(r)
    u = np.cross(r, f)
    c, s = np.cos(roll), np.sin(roll)
    r, u = c * r + s * u, -s * r + c * u
    return f, r, u


def _draw(rng: np.random.Generator, r: Range) -> float:
    """A uniform draw from ``r``; a constant range draws nothing."""
    if r[0] == r[1]:
        return float(r[0])
    return rng.uniform(r[0], r[1])


def sample_scene(rng: np.random.Generator, height: int, width: int,
                 hfov_deg: float = 62.0,
                 num_objects: Tuple[int, int] = (2, 5),
                 params: Optional[SceneParams] = None) -> Scene:
    """Draw a random room, camera and furniture layout.

    All randomness comes from ``rng``; appearance is not decided here, so one
    scene can be rendered in every domain.

    Args:
        rng: the generator to draw from.
        height, width: image size in pixels.
        hfov_deg: horizontal field of view (used when ``params`` is None).
        num_objects: inclusive range of the number of shared-class objects
            (used when ``params`` is None).
        params: the ranges to draw from (default: :data:`SOURCE_SCENE` with
            ``hfov_deg`` and ``num_objects``).
    """
    if params is None:
        params = replace(SOURCE_SCENE, hfov_deg=(hfov_deg, hfov_deg),
                         num_objects=tuple(num_objects))
    sp = params
    u = rng.uniform
    rx, ry, rz = _draw(rng, sp.room_x), _draw(rng, sp.room_height), _draw(
        rng, sp.room_z)
    cam_pos = np.array([_draw(rng, sp.cam_x_frac) * rx,
                        _draw(rng, sp.cam_height), _draw(rng, sp.cam_z)])
    # look roughly towards the far wall, down a little
    yaw = np.arctan2(rx / 2 - cam_pos[0], rz - cam_pos[2]) + np.deg2rad(
        u(-sp.yaw_jitter_deg, sp.yaw_jitter_deg))
    pitch = -np.deg2rad(_draw(rng, sp.pitch_down_deg))
    roll = np.deg2rad(u(-sp.roll_deg, sp.roll_deg))
    f, r, up = _look_basis(yaw, pitch, roll)
    hfov = _draw(rng, sp.hfov_deg)
    focal = (width / 2) / np.tan(np.deg2rad(hfov) / 2)
    cam = Camera(cam_pos, f, r, up, focal, height, width)

    prims: List[Primitive] = []
    inst_cls = [CLASS_INDEX['wall']]  # instance 0 = the room
    footprints: List[Tuple[float, float, float, float]] = []  # x0,z0,x1,z1
    margin = 0.03

    def free(x0, z0, x1, z1):
        if x0 < margin or z0 < margin or x1 > rx - margin or z1 > rz - margin:
            return False
        # keep the camera out of (and a little away from) every object
        if (x0 - 0.7 < cam_pos[0] < x1 + 0.7
                and z0 - 0.7 < cam_pos[2] < z1 + 0.7):
            return False
        for (a0, b0, a1, b1) in footprints:
            if x0 < a1 + 0.05 and a0 < x1 + 0.05 and z0 < b1 + 0.05 \
                    and b0 < z1 + 0.05:
                return False
        return True

    def place(cls_name: str) -> bool:
        p = _footprint(cls_name, rng)
        if sp.size_scale[0] != sp.size_scale[1] or sp.size_scale[0] != 1.0:
            p = _scaled(p, _draw(rng, sp.size_scale))
        k = int(rng.choice(4, p=list(sp.orientation_probs)))
        w, d = (p['w'], p['d']) if k % 2 == 0 else (p['d'], p['w'])
        for _ in range(30):
            # aim at a random pixel of the lower part of the image
            px = u(0.05, 0.95) * width
            py = _draw(rng, sp.aim_rows) * height
            dvec = (f + (px - width / 2) / focal * r -
                    (py - height / 2) / focal * up)
            if dvec[1] >= -1e-3:
                continue
            t = -cam_pos[1] / dvec[1]
            cx, cz = cam_pos[0] + t * dvec[0], cam_pos[2] + t * dvec[2]
            cx = float(np.clip(cx, w / 2 + margin, rx - w / 2 - margin))
            cz = float(np.clip(cz, d / 2 + margin, rz - d / 2 - margin))
            box = (cx - w / 2, cz - d / 2, cx + w / 2, cz + d / 2)
            if free(*box):
                footprints.append(box)
                inst = len(inst_cls)
                inst_cls.append(CLASS_INDEX[cls_name])
                b = _ObjectBuilder(cx, cz, k, inst, CLASS_INDEX[cls_name])
                _build_object(cls_name, p, b)
                prims.extend(b.prims)
                return True
        return False

    n = int(rng.integers(sp.num_objects[0], sp.num_objects[1] + 1))
    if sp.class_probs is None:
        names = rng.choice(SHARED_CLASSES, size=n)
    else:
        names = rng.choice(SHARED_CLASSES, size=n, p=list(sp.class_probs))
    for cls_name in names:
        place(str(cls_name))
    if rng.random() < sp.distractor_prob:
        place('cabinet')

    # a picture on one of the walls, a window on another
    walls = ['x0', 'x1', 'z1']
    window = None
    if rng.random() < sp.window_prob:
        wall = str(rng.choice(walls))
        length = rx if wall == 'z1' else rz
        ww, wh = u(0.8, 1.6), u(0.9, 1.4)
        a = u(0.2, max(0.21, length - ww - 0.2))
        window = dict(wall=wall, a0=a, a1=a + ww, y0=u(0.8, 1.1))
        window['y1'] = window['y0'] + wh
    if rng.random() < sp.picture_prob:
        wall = str(rng.choice(walls))
        length = rx if wall == 'z1' else rz
        pw, ph = u(0.4, 1.0), u(0.3, 0.7)
        a = u(0.2, max(0.21, length - pw - 0.2))
        y0 = u(1.2, 1.8)
        inst = len(inst_cls)
        inst_cls.append(CLASS_INDEX['picture'])
        t = 0.025
        if wall == 'z1':
            params = (a, y0, rz - t, a + pw, y0 + ph, rz)
        elif wall == 'x0':
            params = (0.0, y0, a, t, y0 + ph, a + pw)
        else:
            params = (rx - t, y0, a, rx, y0 + ph, a + pw)
        prims.append(Primitive('box', params, inst, CLASS_INDEX['picture']))
    return Scene((rx, ry, rz), cam, prims, inst_cls, window)
