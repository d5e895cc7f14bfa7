"""Appearance domains: how a rendered scene is turned into an RGB image.

The geometry of a scene (``raycast.render_geometry``) is the same in every
domain; a :class:`DomainStyle` decides only the look: per-class palette,
procedural textures, lighting, fog, colour cast, contrast/gamma, sensor noise
and blur. The source style is clean and flat-coloured (like a rendered
Taskonomy building); the target style permutes the class colours, adds
textures, raking light and a noisy, blurry, warm sensor (like NYUD-v2
Kinect frames), so a model that learnt colour cues on the source is clearly
hurt while every task relation (geometry <-> semantics <-> edges) is kept.
"""
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

import numpy as np

from .raycast import GeometryMaps
from .sampling import CLASSES

RGB = Tuple[float, float, float]
Range = Tuple[float, float]


@dataclass(frozen=True)
class DomainStyle:
    """Appearance parameters of one domain.

    Attributes:
        name: domain name.
        palette: base albedo (RGB in [0, 1]) per generator class.
        textures: per class ``(kind, scale_m, amplitude)`` with kind one of
            ``'flat'``, ``'vstripes'``, ``'hstripes'``, ``'grain'``,
            ``'noise'``, ``'checker'``; classes not listed are flat.
        colour_jitter: relative per-instance jitter of the albedo.
        random_colour_prob: probability that an object gets a random colour.
        light_elevation, light_azimuth: ranges (degrees) of the directional
            light (azimuth relative to the camera's viewing direction).
        light_intensity, ambient: ranges of the diffuse and ambient terms.
        fog: extinction per metre towards ``fog_colour``.
        colour_cast: per-channel gain.
        contrast, gamma: applied as ``((x - .5) * contrast + .5) ** gamma``.
        vignette: darkening of the corners (0 = none).
        noise_std: Gaussian sensor noise (in [0, 1] units).
        blur_sigma: Gaussian blur in pixels (0 = none).
    """
    name: str
    palette: Dict[str, RGB]
    textures: Dict[str, Tuple[str, float, float]] = field(
        default_factory=dict)
    colour_jitter: float = 0.1
    random_colour_prob: float = 0.2
    light_elevation: Range = (45.0, 70.0)
    light_azimuth: Range = (-60.0, 60.0)
    light_intensity: Range = (0.7, 0.9)
    ambient: Range = (0.3, 0.4)
    fog: float = 0.0
    fog_colour: RGB = (0.8, 0.8, 0.8)
    colour_cast: RGB = (1.0, 1.0, 1.0)
    contrast: float = 1.0
    gamma: float = 1.0
    vignette: float = 0.0
    noise_std: float = 0.0
    blur_sigma: float = 0.0


SOURCE_STYLE = DomainStyle(
    name='source',
    palette={
        'wall': (0.82, 0.80, 0.74), 'floor': (0.55, 0.40, 0.26),
        'ceiling': (0.93, 0.93, 0.92), 'window': (0.75, 0.88, 1.00),
        'refrigerator': (0.92, 0.92, 0.94), 'table': (0.50, 0.32, 0.18),
        'toilet': (0.96, 0.96, 0.96), 'sofa': (0.22, 0.33, 0.62),
        'bed': (0.78, 0.28, 0.26), 'sink': (0.70, 0.72, 0.78),
        'chair': (0.28, 0.55, 0.30), 'cabinet': (0.62, 0.50, 0.36),
        'picture': (0.50, 0.50, 0.50)
    },
    textures={'picture': ('noise', 0.08, 0.6)},
    colour_jitter=0.12,
    random_colour_prob=0.2,
)

TARGET_STYLE = DomainStyle(
    name='target',
    palette={
        'wall': (0.70, 0.77, 0.68), 'floor': (0.46, 0.46, 0.50),
        'ceiling': (0.86, 0.83, 0.78), 'window': (1.00, 0.96, 0.86),
        'refrigerator': (0.50, 0.52, 0.56), 'table': (0.86, 0.82, 0.72),
        'toilet': (0.78, 0.87, 0.96), 'sofa': (0.68, 0.28, 0.18),
        'bed': (0.34, 0.56, 0.36), 'sink': (0.88, 0.82, 0.64),
        'chair': (0.20, 0.24, 0.48), 'cabinet': (0.40, 0.28, 0.20),
        'picture': (0.50, 0.50, 0.50)
    },
    textures={
        'wall': ('noise', 0.05, 0.12), 'floor': ('checker', 0.45, 0.35),
        'refrigerator': ('vstripes', 0.04, 0.25),
        'table': ('grain', 0.1, 0.35), 'sofa': ('noise', 0.03, 0.35),
        'bed': ('hstripes', 0.08, 0.45), 'chair': ('noise', 0.02, 0.3),
        'cabinet': ('grain', 0.08, 0.4), 'sink': ('noise', 0.04, 0.15),
        'picture': ('vstripes', 0.05, 0.6)
    },
    colour_jitter=0.15,
    random_colour_prob=0.2,
    light_elevation=(10.0, 30.0),
    light_azimuth=(60.0, 150.0),
    light_intensity=(0.9, 1.1),
    ambient=(0.3, 0.4),
    fog=0.02,
    fog_colour=(0.62, 0.56, 0.5),
    colour_cast=(1.1, 1.0, 0.82),
    contrast=1.2,
    gamma=1.1,
    vignette=0.3,
    noise_std=0.03,
    blur_sigma=0.8,
)

#: Third domain for the PASCAL_MT layout: saturated, high-key photos.
PASCAL_STYLE = DomainStyle(
    name='pascal',
    palette={
        'wall': (0.90, 0.86, 0.70), 'floor': (0.30, 0.22, 0.16),
        'ceiling': (0.95, 0.95, 0.95), 'window': (0.95, 0.95, 1.00),
        'refrigerator': (0.85, 0.20, 0.20), 'table': (0.30, 0.20, 0.12),
        'toilet': (0.90, 0.90, 0.90), 'sofa': (0.85, 0.75, 0.30),
        'bed': (0.95, 0.95, 0.90), 'sink': (0.40, 0.60, 0.80),
        'chair': (0.80, 0.45, 0.15), 'cabinet': (0.25, 0.25, 0.25),
        'picture': (0.50, 0.50, 0.50)
    },
    textures={
        'floor': ('grain', 0.15, 0.35), 'sofa': ('hstripes', 0.06, 0.4),
        'bed': ('noise', 0.05, 0.2), 'picture': ('noise', 0.06, 0.7),
        'wall': ('vstripes', 0.3, 0.15)
    },
    colour_jitter=0.2,
    random_colour_prob=0.35,
    light_elevation=(30.0, 60.0),
    light_azimuth=(-150.0, -60.0),
    light_intensity=(0.8, 1.0),
    ambient=(0.25, 0.35),
    colour_cast=(0.92, 1.0, 1.1),
    contrast=1.4,
    gamma=0.8,
    noise_std=0.015,
    blur_sigma=0.0,
)

STYLES: Dict[str, DomainStyle] = {
    s.name: s
    for s in (SOURCE_STYLE, TARGET_STYLE, PASCAL_STYLE)
}


# --------------------------------------------------------------------------
# textures
# --------------------------------------------------------------------------
def _hash_noise(cells: np.ndarray, salt: int) -> np.ndarray:
    """Deterministic pseudo-random value in [0, 1) per integer 3D cell."""
    c = cells.astype(np.int64)
    h = (c[:, 0] * 73856093) ^ (c[:, 1] * 19349663) ^ (c[:, 2] * 83492791)
    h ^= salt * 2654435761
    h = (h ^ (h >> 13)) * 1274126177
    h ^= h >> 16
    return (h & 0xFFFF).astype(np.float64) / 65536.0


def _pattern(kind: str, p: np.ndarray, scale: float, phase: float,
             salt: int) -> np.ndarray:
    """Texture pattern in [0, 1] at world points ``p`` (N, 3)."""
    if kind == 'vstripes':
        return 0.5 + 0.5 * np.sin(2 * np.pi * (p[:, 0] + p[:, 2]) / scale +
                                  phase)
    if kind == 'hstripes':
        return (np.sin(2 * np.pi * p[:, 1] / scale + phase) > 0).astype(
            np.float64)
    if kind == 'grain':
        warp = 0.3 * np.sin(p[:, 0] * 7.0 + p[:, 2] * 5.0 + phase)
        return 0.5 + 0.5 * np.sin(2 * np.pi * (p[:, 1] * 0.2 + p[:, 0] * 0.7 +
                                               p[:, 2] * 0.7 + warp) / scale)
    if kind == 'noise':
        return _hash_noise(np.floor(p / scale), salt)
    if kind == 'checker':
        k = np.floor(p[:, 0] / scale) + np.floor(p[:, 2] / scale)
        return (k % 2).astype(np.float64)
    if kind == 'flat':
        return np.ones(p.shape[0])
    raise ValueError(f'unknown texture kind {kind!r}')


def _gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of an (H, W, C) float image (edge padding)."""
    radius = max(1, int(round(3 * sigma)))
    x = np.arange(-radius, radius + 1)
    k = np.exp(-0.5 * (x / sigma)**2)
    k /= k.sum()
    out = img
    for axis in (0, 1):
        pad = [(0, 0)] * img.ndim
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode='edge')
        n = out.shape[axis]
        acc = np.zeros_like(out)
        for i, wgt in enumerate(k):
            sl = [slice(None)] * img.ndim
            sl[axis] = slice(i, i + n)
            acc += wgt * padded[tuple(sl)]
        out = acc
    return out


# --------------------------------------------------------------------------
# shading
# --------------------------------------------------------------------------
def _jitter(base: RGB, rng: np.random.Generator, amount: float,
            random_prob: float) -> np.ndarray:
    if rng.random() < random_prob:
        return rng.uniform(0.12, 0.92, size=3)
    c = np.asarray(base) * (1 + rng.uniform(-amount, amount, size=3) * 0.5)
    return np.clip(c * rng.uniform(1 - amount, 1 + amount), 0.02, 1.0)


def room_palette(style: DomainStyle,
                 rng: np.random.Generator) -> Dict[str, np.ndarray]:
    """Draw wall/floor/ceiling/window colours (e.g. once per building)."""
    return {
        name: _jitter(style.palette[name], rng, style.colour_jitter, 0.0)
        for name in ('wall', 'floor', 'ceiling', 'window')
    }


def render_rgb(geom: GeometryMaps,
               camera_forward: np.ndarray,
               instance_classes,
               style: DomainStyle,
               rng: np.random.Generator,
               room_colours: Optional[Dict[str, np.ndarray]] = None
               ) -> np.ndarray:
    """Shade the geometry of one view in ``style``.

    Args:
        geom: the rendered geometry.
        camera_forward: world-frame viewing direction (for the light).
        instance_classes: class index per instance (instance 0 = room).
        style: the appearance domain.
        rng: per-image generator (all appearance randomness comes from it).
        room_colours: colours of the room surfaces; drawn from ``rng`` when
            not given.

    Returns:
        ``(H, W, 3) uint8`` image in RGB order.
    """
    h, w = geom.depth.shape
    n = h * w
    cls = geom.cls.reshape(-1)
    inst = geom.instance.reshape(-1)
    pts = geom.points.reshape(-1, 3)
    nrm = geom.normal_world.reshape(-1, 3)
    if room_colours is None:
        room_colours = room_palette(style, rng)

    # albedo: room surfaces per class, objects per instance
    albedo = np.empty((n, 3))
    for name in ('wall', 'floor', 'ceiling', 'window'):
        albedo[cls == CLASSES.index(name)] = room_colours[name]
    inst_colours = [
        _jitter(style.palette[CLASSES[c]], rng, style.colour_jitter,
                1.0 if CLASSES[c] == 'picture' else style.random_colour_prob)
        for c in instance_classes
    ]
    obj = inst > 0
    if obj.any():
        albedo[obj] = np.asarray(inst_colours)[inst[obj]]

    # textures (phase / scale jitter drawn in a fixed class order)
    for c, name in enumerate(CLASSES):
        kind, scale, amp = style.textures.get(name, ('flat', 1.0, 0.0))
        phase = rng.uniform(0, 2 * np.pi)
        s = scale * rng.uniform(0.8, 1.25)
        salt = int(rng.integers(0, 2**16))
        if kind == 'flat' or amp <= 0:
            continue
        m = cls == c
        if not m.any():
            continue
        pat = _pattern(kind, pts[m], s, phase, salt)
        albedo[m] *= ((1 - amp) + amp * pat)[:, None]
    albedo *= geom.shade.reshape(-1, 1)

    # one directional light, azimuth relative to the viewing direction
    el = np.deg2rad(rng.uniform(*style.light_elevation))
    az = np.deg2rad(rng.uniform(*style.light_azimuth)) + np.arctan2(
        camera_forward[0], camera_forward[2]) + np.pi
    light = np.array([np.cos(el) * np.sin(az), np.sin(el),
                      np.cos(el) * np.cos(az)])
    diffuse = np.clip(nrm @ light, 0, None) * rng.uniform(
        *style.light_intensity)
    ambient = rng.uniform(*style.ambient)
    img = albedo * (ambient + diffuse)[:, None]
    window = cls == CLASSES.index('window')
    img[window] = albedo[window]  # emissive: the outside

    if style.fog > 0:
        a = 1 - np.exp(-style.fog * geom.depth.reshape(-1))
        img = img * (1 - a[:, None]) + np.asarray(style.fog_colour) * a[:,
                                                                          None]
    img = img.reshape(h, w, 3) * np.asarray(style.colour_cast)
    if style.vignette > 0:
        yy, xx = np.meshgrid(
            np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing='ij')
        img *= (1 - style.vignette * 0.5 * (xx**2 + yy**2))[..., None]
    img = np.clip((img - 0.5) * style.contrast + 0.5, 0, 1)**style.gamma
    if style.blur_sigma > 0:
        img = _gaussian_blur(img, style.blur_sigma)
    if style.noise_std > 0:
        img = img + rng.normal(0, style.noise_std, size=img.shape)
    return np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)
