"""Shift families: the target domains of the synthetic benchmark.

A shift family is one deterministic target domain, written in the NYUD-v2
layout beside the others. Each one changes a different part of the scene
distribution away from the source (:data:`~.sampling.SOURCE_SCENE`, the
Taskonomy-layout domain):

* ``appearance`` -- the look only (palette, textures, lighting, fog, noise,
  blur, gamma: :data:`~.appearance.TARGET_STYLE`); scenes are drawn exactly
  as the source's. This is the original target, in ``NYUDv2/``.
* ``geometry`` -- how the room is seen: a narrower field of view drawn per
  image, a lower camera that looks almost level, smaller rooms (so a shorter
  depth range and another perspective). Source appearance.
* ``content`` -- what is in the room: more objects, smaller objects, a
  skewed class frequency (chairs and tables common, toilets and
  refrigerators rare), objects placed lower in the view and facing any
  way, more distractors. Source appearance.
* ``mixed`` -- all three at once (the target appearance with the geometry
  and content scene changes): the closest to the real Taskonomy -> NYUD-v2
  shift.

The families are part of the benchmark's definition: their parameters live
in :data:`FAMILIES` only (docs/benchmarks.md quotes this table) and are
versioned by :data:`FAMILIES_VERSION`, written into ``meta.json``. They were
chosen from the direction of the real shift, not tuned for any method;
changing one of them is a new benchmark version.

Random streams: a family renders with its own domain id (:data:`DOMAIN_IDS`)
in the generator's seeds, so no family shares a scene with the source or
with another family.
"""
from dataclasses import dataclass, replace
from typing import Dict, Sequence, Tuple

from .sampling import SHARED_CLASSES, SOURCE_SCENE, SceneParams

#: Bump when a family's parameters change (invalidates cached outputs).
FAMILIES_VERSION = 1


@dataclass(frozen=True)
class ShiftFamily:
    """One target domain of the benchmark.

    Attributes:
        name: family name.
        domain: domain name in the generator's random seeds and summaries.
        domain_id: its id in the seeds (:data:`DOMAIN_IDS`).
        style: appearance style (a key of ``appearance.STYLES``).
        scene: the scene distribution.
        dirname: folder of its NYUD-v2-layout output.
        layout: writer name in ``meta.json`` (``nyudv2`` for appearance).
        description: one line for docs and summaries.
    """
    name: str
    domain: str
    domain_id: int
    style: str
    scene: SceneParams
    dirname: str
    layout: str
    description: str

    def to_dict(self) -> dict:
        """A JSON-friendly description (``meta.json``, results)."""
        changed = {
            k: v for k, v in self.scene.to_dict().items()
            if v != SOURCE_SCENE.to_dict()[k]
        }
        return dict(name=self.name, domain=self.domain,
                    domain_id=self.domain_id, style=self.style,
                    dirname=self.dirname, layout=self.layout,
                    description=self.description, scene_changes=changed,
                    version=FAMILIES_VERSION)


# The scene changes of the geometry and content families, each in one place;
# ``mixed`` combines both.
_GEOMETRY = dict(
    # Kinect-like field of view, drawn per image (source: 62 degrees fixed)
    hfov_deg=(50.0, 58.0),
    # smaller rooms (bedrooms, offices, bathrooms): shorter depth range
    room_x=(2.6, 4.2), room_z=(2.6, 4.2), room_height=(2.3, 2.7),
    # a hand-held camera, lower and almost level (source: 1.1-1.6 m, 8-30
    # degrees down)
    cam_height=(0.8, 1.3), pitch_down_deg=(0.0, 15.0), cam_z=(0.2, 0.5),
)
_CONTENT = dict(
    # cluttered rooms
    num_objects=(4, 7),
    # skewed class frequencies, in SHARED_CLASSES order: refrigerator,
    # table, toilet, sofa, bed, sink, chair (source: uniform, 1/7 each)
    class_probs=(0.06, 0.22, 0.05, 0.14, 0.12, 0.06, 0.35),
    # smaller pieces of furniture (every length x 0.7-1.0 per object)
    size_scale=(0.7, 1.0),
    # arrangement: placed lower in the view (closer to the camera), facing
    # any way, more distractor cabinets
    aim_rows=(0.5, 0.95), orientation_probs=(0.25, 0.25, 0.25, 0.25),
    distractor_prob=0.7,
)
assert len(_CONTENT['class_probs']) == len(SHARED_CLASSES)

#: The four families, in report order. The parameters are the benchmark's
#: definition (version :data:`FAMILIES_VERSION`).
FAMILIES: Dict[str, ShiftFamily] = {
    f.name: f
    for f in (
        ShiftFamily(
            name='appearance', domain='target', domain_id=1, style='target',
            scene=SOURCE_SCENE, dirname='NYUDv2', layout='nyudv2',
            description='target look (palette, textures, light, fog, '
            'noise, blur, gamma); source scenes'),
        ShiftFamily(
            name='geometry', domain='target_geometry', domain_id=3,
            style='source', scene=replace(SOURCE_SCENE, **_GEOMETRY),
            dirname='NYUDv2_geometry', layout='nyudv2_geometry',
            description='narrower, per-image field of view; lower, level '
            'camera; smaller rooms; source look'),
        ShiftFamily(
            name='content', domain='target_content', domain_id=4,
            style='source', scene=replace(SOURCE_SCENE, **_CONTENT),
            dirname='NYUDv2_content', layout='nyudv2_content',
            description='more, smaller objects; skewed class frequencies; '
            'other arrangement; source look'),
        ShiftFamily(
            name='mixed', domain='target_mixed', domain_id=5,
            style='target',
            scene=replace(SOURCE_SCENE, **_GEOMETRY, **_CONTENT),
            dirname='NYUDv2_mixed', layout='nyudv2_mixed',
            description='appearance + geometry + content'),
    )
}
#: Family names, in report order.
FAMILY_NAMES: Tuple[str, ...] = tuple(FAMILIES)

#: Domain id of every domain the generator renders (seeds), its style and
#: its scene distribution.
DOMAIN_IDS: Dict[str, int] = {'source': 0, 'target': 1, 'pascal': 2}
DOMAIN_STYLES: Dict[str, str] = {'source': 'source', 'target': 'target',
                                 'pascal': 'pascal'}
DOMAIN_SCENES: Dict[str, SceneParams] = {
    'source': SOURCE_SCENE, 'target': SOURCE_SCENE, 'pascal': SOURCE_SCENE}
for _f in FAMILIES.values():
    DOMAIN_IDS[_f.domain] = _f.domain_id
    DOMAIN_STYLES[_f.domain] = _f.style
    DOMAIN_SCENES[_f.domain] = _f.scene
assert len(set(DOMAIN_IDS.values())) == len(DOMAIN_IDS)


def normalise_families(families: Sequence[str]) -> Tuple[str, ...]:
    """Check family names and put them in report order.

    ``families`` may be a list or a comma/space separated string; ``'all'``
    means every family.

    Raises:
        ValueError: an unknown name (naming the valid ones), or none.
    """
    if isinstance(families, str):
        families = [s for s in families.replace(',', ' ').split() if s]
    names = []
    for name in families:
        key = str(name).lower()
        if key == 'all':
            names.extend(FAMILY_NAMES)
            continue
        if key not in FAMILIES:
            raise ValueError(f'unknown shift family {name!r}; expected some '
                             f'of {FAMILY_NAMES} (or "all")')
        names.append(key)
    if not names:
        raise ValueError('at least one shift family is needed; expected '
                         f'some of {FAMILY_NAMES}')
    return tuple(n for n in FAMILY_NAMES if n in names)
