"""Scene sampling: random rooms, furniture and cameras.

A scene is a box-shaped room (floor, four walls, ceiling; optionally a window)
holding a few pieces of furniture, each built from axis-aligned boxes, vertical
cylinders and spheres. Every class has its own construction rule (a
refrigerator is a tall box with handles, a table a slab on four legs, ...), so
the relation between semantics, depth, normals and occlusion edges is fixed by
the geometry alone and is identical in every appearance domain.

This module only *describes* scenes: :func:`sample_scene` draws every random
parameter (room size, camera pose, objects and their placement, window,
picture) from one ``numpy`` generator and returns a :class:`Scene`. Turning a
scene into per-pixel maps is the job of :mod:`.raycast`.

World frame: ``y`` up, floor at ``y = 0``; the room spans
``[0, room_x] x [0, room_height] x [0, room_z]``.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

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


def sample_scene(rng: np.random.Generator, height: int, width: int,
                 hfov_deg: float = 62.0,
                 num_objects: Tuple[int, int] = (2, 5)) -> Scene:
    """Draw a random room, camera and furniture layout.

    All randomness comes from ``rng``; appearance is not decided here, so one
    scene can be rendered in every domain.

    Args:
        rng: the generator to draw from.
        height, width: image size in pixels.
        hfov_deg: horizontal field of view.
        num_objects: inclusive range of the number of shared-class objects.
    """
    u = rng.uniform
    rx, ry, rz = u(3.5, 6.5), u(2.5, 3.0), u(3.5, 6.5)
    cam_pos = np.array([u(0.3, 0.7) * rx, u(1.1, 1.6), u(0.3, 0.8)])
    # look roughly towards the far wall, down a little
    yaw = np.arctan2(rx / 2 - cam_pos[0], rz - cam_pos[2]) + np.deg2rad(
        u(-25, 25))
    pitch = -np.deg2rad(u(8, 30))
    roll = np.deg2rad(u(-3, 3))
    f, r, up = _look_basis(yaw, pitch, roll)
    focal = (width / 2) / np.tan(np.deg2rad(hfov_deg) / 2)
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
        k = int(rng.choice(4, p=[0.5, 0.2, 0.1, 0.2]))
        w, d = (p['w'], p['d']) if k % 2 == 0 else (p['d'], p['w'])
        for _ in range(30):
            # aim at a random pixel of the lower part of the image
            px = u(0.05, 0.95) * width
            py = u(0.35, 0.85) * height
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

    n = int(rng.integers(num_objects[0], num_objects[1] + 1))
    for cls_name in rng.choice(SHARED_CLASSES, size=n):
        place(str(cls_name))
    if rng.random() < 0.4:
        place('cabinet')

    # a picture on one of the walls, a window on another
    walls = ['x0', 'x1', 'z1']
    window = None
    if rng.random() < 0.6:
        wall = str(rng.choice(walls))
        length = rx if wall == 'z1' else rz
        ww, wh = u(0.8, 1.6), u(0.9, 1.4)
        a = u(0.2, max(0.21, length - ww - 0.2))
        window = dict(wall=wall, a0=a, a1=a + ww, y0=u(0.8, 1.1))
        window['y1'] = window['y0'] + wh
    if rng.random() < 0.5:
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
