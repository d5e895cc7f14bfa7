"""Generate the synthetic multi-task benchmark with a controlled domain shift.

The source domain is written in the Taskonomy (omnidata) layout, the target
domain in the NYUD-v2 (ATRC) layout and, optionally, a third domain in the
PASCAL_MT layout. All domains draw scenes from the same distribution
(:func:`sampling.sample_scene`); they differ only in appearance
(:mod:`appearance`). Every image is deterministic given ``seed``:

* scene:      ``np.random.default_rng([seed, domain_id, split_id, index, 0])``
* appearance: ``np.random.default_rng([seed, domain_id, split_id, index, 1])``
* room colours of a group (a Taskonomy building; otherwise one image):
  ``np.random.default_rng([seed, domain_id, crc32(group), 2])``

so source and target never share a scene. The target domain comes in shift
families (:mod:`.families`, ``families=``): ``appearance`` (the original
target, ``NYUDv2/``) draws its scenes exactly as the source does and changes
only the look; ``geometry``, ``content`` and ``mixed`` change the scene
distribution too and are written beside it (``NYUDv2_<family>/``).
"""
import json
import os
import os.path as osp
import time
import zlib
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from .appearance import STYLES, render_rgb, room_palette
from .families import (DOMAIN_IDS, DOMAIN_SCENES, DOMAIN_STYLES, FAMILIES,
                       FAMILIES_VERSION, normalise_families)
from trttt_mm.utils.jsonio import read_json

from .manifest import (clear_layout, inspect_layout, read_manifest, refusal,
                       write_json_nofollow, write_manifest)
from .raycast import GeometryMaps, render_geometry
from .sampling import Scene, sample_scene
from .writers import WRITERS

#: Bump when the generated content changes (invalidates caches).
FORMAT_VERSION = 1
GENERATOR = 'trttt_mm.datasets.synthetic'

SPLIT_IDS: Dict[str, int] = {'train': 0, 'val': 1}
LAYOUTS: Tuple[str, ...] = ('taskonomy', 'nyudv2', 'pascal')
#: Aliases accepted for layout names.
_LAYOUT_ALIASES = {
    'taskonomy': 'taskonomy', 'nyudv2': 'nyudv2', 'nyud': 'nyudv2',
    'nyud-v2': 'nyudv2', 'pascal': 'pascal', 'pascal_mt': 'pascal',
    'pascal-context': 'pascal', 'pascalcontext': 'pascal'
}

DEFAULTS = dict(
    seed=0, num_train=320, num_val=80, num_target_train=100,
    num_target_val=100, height=64, width=96, images_per_building=40)


def render_view(seed: int, domain: str, split: str, index: int, height: int,
                width: int,
                group: Optional[str] = None,
                scene_domain: Optional[str] = None
                ) -> Tuple[np.ndarray, GeometryMaps, Scene]:
    """Render one view of the benchmark.

    Args:
        seed: benchmark seed.
        domain: domain (``source``, ``target``, ``pascal`` or a shift
            family's, e.g. ``target_geometry``: see :data:`DOMAIN_IDS`); it
            sets the appearance style and the scene distribution.
        split: ``train`` or ``val``.
        index: image index within the split.
        height, width: image size.
        group: images of one group share room colours (default: the image).
        scene_domain: draw the scene of this domain instead of ``domain``'s
            (renders one scene in several appearances; for analysis/tests).

    Returns:
        ``(rgb uint8 (H, W, 3), geometry maps, scene)``.
    """
    for name, value in (('domain', domain), ('scene_domain', scene_domain)):
        if value is not None and value not in DOMAIN_IDS:
            raise ValueError(f'{name} {value!r} is not a domain of the '
                             f'generator; expected one of {list(DOMAIN_IDS)}')
    if split not in SPLIT_IDS:
        raise ValueError(f'split {split!r}: expected one of '
                         f'{list(SPLIT_IDS)}')
    dom = DOMAIN_IDS[domain]
    scene_domain = scene_domain or domain
    sdom = DOMAIN_IDS[scene_domain]
    sid = SPLIT_IDS[split]
    scene = sample_scene(
        np.random.default_rng([seed, sdom, sid, index, 0]), height, width,
        params=DOMAIN_SCENES[scene_domain])
    geom = render_geometry(scene)
    style = STYLES[DOMAIN_STYLES[domain]]
    if group is None:
        group = f'{split}/{index}'
    colours = room_palette(
        style,
        np.random.default_rng([seed, dom, zlib.crc32(group.encode()), 2]))
    rgb = render_rgb(geom, scene.camera.forward, scene.instance_classes,
                     style, np.random.default_rng([seed, dom, sid, index, 1]),
                     room_colours=colours)
    return rgb, geom, scene


def _normalise_layouts(layouts: Sequence[str]) -> Tuple[str, ...]:
    if isinstance(layouts, str):
        layouts = [s for s in layouts.replace(',', ' ').split() if s]
    out = []
    for name in layouts:
        key = _LAYOUT_ALIASES.get(str(name).lower())
        if key is None:
            raise ValueError(f'unknown layout {name!r}; expected some of '
                             f'{LAYOUTS}')
        if key not in out:
            out.append(key)
    if not out:
        raise ValueError('at least one layout is needed')
    return tuple(sorted(out, key=LAYOUTS.index))


def _read_meta(path: str) -> Optional[dict]:
    meta = read_json(path)
    return meta if isinstance(meta, dict) else None


def read_meta(out_dir: str) -> Optional[dict]:
    """The ``meta.json`` a generation wrote in ``out_dir`` (generator,
    parameters, completeness), or None when there is none (or it is
    damaged)."""
    return _read_meta(osp.join(out_dir, 'meta.json'))


def _write_meta(path: str, meta: dict):
    write_json_nofollow(path, meta)


#: Writer name of each family's target (``nyudv2`` for appearance).
FAMILY_WRITERS: Dict[str, str] = {f.layout: f.name for f in FAMILIES.values()}


def _make_writer(name: str, out_dir: str, counts: Dict[str, int],
                 images_per_building: int):
    if name in FAMILY_WRITERS and name != 'nyudv2':
        return WRITERS['nyudv2'](out_dir, counts,
                                 family=FAMILIES[FAMILY_WRITERS[name]])
    cls = WRITERS[name]
    if name == 'taskonomy':
        return cls(out_dir, counts, images_per_building)
    return cls(out_dir, counts)


def _writer_names(layouts: Sequence[str],
                  families: Sequence[str]) -> Tuple[str, ...]:
    """Writers of the requested layouts; ``nyudv2`` stands for one writer
    per shift family."""
    out = []
    for name in layouts:
        if name == 'nyudv2':
            out.extend(FAMILIES[f].layout for f in families)
        else:
            out.append(name)
    return tuple(out)


def _recorded_files(meta: Optional[dict], name: str, out_dir: str) -> set:
    """Files that an earlier run (without manifests) wrote for layout
    ``name``, from the parameters its ``meta.json`` records."""
    params = (meta or {}).get('params') or {}
    counts = (params.get('counts') or {}).get(name)
    try:
        writer = _make_writer(name, out_dir, counts,
                              int(params.get('images_per_building', 40)))
        return set(writer.files())
    except (TypeError, ValueError, KeyError, AttributeError):
        return set()


def _prepare_output(out_dir: str, writers, meta: Optional[dict],
                    meta_is_ours: bool) -> None:
    """Check that the requested layout folders hold only the generator's
    files and no symbolic link, then delete those files.

    Raises:
        FileExistsError: a layout folder is (or holds) a symbolic link, or
            holds files the generator did not write, or ``meta.json`` is not
            the generator's. Nothing is deleted then.
    """
    states = []
    for w in writers:
        owned = read_manifest(w.root, GENERATOR)
        if owned is None and meta_is_ours:
            owned = _recorded_files(meta, w.name, out_dir)
        states.append(inspect_layout(w.root, owned))
    message = refusal(states, out_dir)
    meta_path = osp.join(out_dir, 'meta.json')
    if osp.lexists(meta_path) and not meta_is_ours and not osp.islink(
            meta_path):
        message = (message or f'refusing to write the synthetic benchmark '
                   f'into {out_dir!r}:') + (
                       f'\n  {meta_path}: not written by the generator '
                       '(it is not its meta.json); move it away or choose '
                       'another --out')
    if message:
        raise FileExistsError(message)
    for st in states:
        clear_layout(st)
    if osp.lexists(meta_path):
        os.remove(meta_path)


def _progress(total: int, enabled: bool):
    if not enabled or total == 0:
        return None
    try:
        from mmengine.utils import ProgressBar
    except ImportError:  # pragma: no cover - mmengine is a dependency
        return None
    return ProgressBar(total)


def generate_benchmark(out_dir: str,
                       seed: int = DEFAULTS['seed'],
                       num_train: int = DEFAULTS['num_train'],
                       num_val: int = DEFAULTS['num_val'],
                       num_target_train: int = DEFAULTS['num_target_train'],
                       num_target_val: int = DEFAULTS['num_target_val'],
                       height: int = DEFAULTS['height'],
                       width: int = DEFAULTS['width'],
                       layouts: Sequence[str] = ('taskonomy', 'nyudv2'),
                       force: bool = False,
                       num_pascal_train: Optional[int] = None,
                       num_pascal_val: Optional[int] = None,
                       images_per_building: int = DEFAULTS[
                           'images_per_building'],
                       progress: bool = True,
                       families: Sequence[str] = ('appearance', )) -> dict:
    """Write the synthetic benchmark to ``out_dir``.

    Source-domain images go to the Taskonomy layout (``num_train`` /
    ``num_val``), target-domain images to the NYUD-v2 layout
    (``num_target_train`` / ``num_target_val``) and, when ``'pascal'`` is in
    ``layouts``, a third domain to the PASCAL_MT layout
    (``num_pascal_train`` / ``num_pascal_val``, default: the target counts).

    ``families`` (some of ``appearance``, ``geometry``, ``content``,
    ``mixed``, or ``'all'``; see :mod:`.families`) are the target domains
    written for the ``nyudv2`` layout, each with the target counts:
    ``appearance`` in ``NYUDv2/`` (the default, and the only one before
    families existed: with it alone the output and ``meta.json``'s
    parameters are exactly as before), the others in ``NYUDv2_<family>/``.
    ``meta.json`` records :data:`.families.FAMILIES_VERSION` and the
    families' parameters.

    ``out_dir/meta.json`` records the parameters. If ``out_dir`` already holds
    a complete benchmark with the same parameters nothing is written
    (``summary['cached']`` is True). If it holds anything else, a
    ``FileExistsError`` is raised unless ``force=True``. An incomplete
    output of this generator with the same parameters (an interrupted run,
    a deleted file) is regenerated without ``force``.

    Before writing, only the folders of the requested ``layouts`` are
    looked at (see :mod:`.manifest`): each holds a manifest of the files
    the generator wrote there, and only those files (and ``meta.json``) are
    deleted. A ``FileExistsError`` naming the paths is raised, with or
    without ``force`` and before anything is deleted, when a requested
    layout folder is or holds a symbolic link, or holds files the generator
    did not write. Other files in ``out_dir`` and the folders of layouts
    not requested are left alone.

    Returns:
        A summary dict: ``out_dir``, ``cached``, ``params``, ``layouts``
        (per layout: root folder, domain, counts, ...), ``num_images``,
        ``seconds``.
    """
    layouts = _normalise_layouts(layouts)
    families = normalise_families(families)
    if families != ('appearance', ) and 'nyudv2' not in layouts:
        raise ValueError(f'families {list(families)} are target domains in '
                         'the nyudv2 layout; add nyudv2 to layouts '
                         f'(got {list(layouts)})')
    writer_names = _writer_names(layouts, families)
    for name, v in dict(num_train=num_train, num_val=num_val,
                        num_target_train=num_target_train,
                        num_target_val=num_target_val).items():
        if int(v) < 0:
            raise ValueError(f'{name} must be >= 0, got {v}')
    if height < 8 or width < 8:
        raise ValueError(f'image size too small: {height}x{width}')
    if images_per_building < 1:
        raise ValueError('images_per_building must be >= 1')
    counts = {
        'taskonomy': dict(train=int(num_train), val=int(num_val)),
        'nyudv2': dict(train=int(num_target_train), val=int(num_target_val)),
        'pascal': dict(
            train=int(num_target_train if num_pascal_train is None else
                      num_pascal_train),
            val=int(num_target_val if num_pascal_val is None else
                    num_pascal_val)),
    }
    for f in families:
        counts[FAMILIES[f].layout] = counts['nyudv2']
    params = dict(
        format_version=FORMAT_VERSION, seed=int(seed), height=int(height),
        width=int(width), layouts=list(layouts),
        counts={k: counts[k] for k in writer_names},
        images_per_building=int(images_per_building))
    if families != ('appearance', ):
        # only then: the parameters of an appearance-only output stay those
        # of the generator before families (its cache stays valid)
        params.update(families=list(families),
                      families_version=FAMILIES_VERSION)

    out_dir = osp.abspath(out_dir)
    meta_path = osp.join(out_dir, 'meta.json')
    if osp.exists(out_dir) and not osp.isdir(out_dir):
        raise FileExistsError(
            f'output directory {out_dir!r} is a file; expected a folder (or '
            'a path that does not exist yet)')

    writers = [
        _make_writer(name, out_dir, counts[name], images_per_building)
        for name in writer_names
    ]

    meta, ours = None, False
    if osp.isdir(out_dir) and os.listdir(out_dir):
        meta = _read_meta(meta_path)
        ours = meta is not None and meta.get('generator') == GENERATOR
        same = ours and meta.get('params') == json.loads(json.dumps(params))
        if same and meta.get('complete') and all(
                w.is_complete() for w in writers):
            summary = dict(meta['summary'], cached=True, seconds=0.0)
            if progress:
                print(f'synthetic benchmark already complete in {out_dir} '
                      '(cached, same parameters): nothing to do')
            return summary
        if not force and not same:
            what = ('a synthetic benchmark with other parameters'
                    if ours else 'files not written by this generator')
            raise FileExistsError(
                f'{out_dir} is not empty and holds {what}; refusing to '
                'overwrite. Choose another output directory or pass '
                'force=True (--force) to replace the files this generator '
                'wrote there.')
        if same and progress:
            print(f'incomplete synthetic benchmark in {out_dir} (same '
                  'parameters): regenerating it')
    _prepare_output(out_dir, writers, meta, ours)

    os.makedirs(out_dir, exist_ok=True)
    meta = dict(generator=GENERATOR, params=params, complete=False,
                families_version=FAMILIES_VERSION,
                families={f: FAMILIES[f].to_dict() for f in families
                          if 'nyudv2' in layouts})
    _write_meta(meta_path, meta)
    for w in writers:  # manifests first: an interrupted run leaves no orphan
        os.makedirs(w.root, exist_ok=True)
        write_manifest(w.root, w.files(), GENERATOR)

    t0 = time.time()
    total = sum(sum(counts[n].values()) for n in writer_names)
    bar = _progress(total, progress)
    layout_summaries = {}
    for w in writers:
        w.prepare()
        for split in ('train', 'val'):
            for i in range(w.counts[split]):
                rgb, geom, _ = render_view(
                    seed, w.domain, split, i, height, width,
                    group=w.group(split, i))
                w.write(split, i, rgb, geom)
                if bar is not None:
                    bar.update()
        layout_summaries[w.name] = w.finalize()
    if bar is not None:
        print()
    seconds = time.time() - t0
    summary = dict(
        out_dir=out_dir, cached=False, params=params,
        layouts=layout_summaries, num_images=total,
        seconds=round(seconds, 3))
    meta.update(complete=True, summary=summary)
    _write_meta(meta_path, meta)
    return summary
