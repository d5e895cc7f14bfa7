"""Shift families of the synthetic benchmark: the source and the original
(appearance) target are unchanged, and each family shifts what it says."""
import hashlib
import json
import os
import os.path as osp
from dataclasses import replace

import cv2
import numpy as np
import pytest

from trttt_mm.datasets.synthetic import (FAMILIES, FAMILIES_VERSION,
                                         FAMILY_NAMES, SHARED_CLASSES,
                                         SOURCE_SCENE, SceneParams,
                                         generate_benchmark,
                                         normalise_families, render_view,
                                         sample_scene)
from trttt_mm.datasets.synthetic.appearance import STYLES
from trttt_mm.datasets.synthetic.families import (DOMAIN_IDS, DOMAIN_SCENES,
                                                  DOMAIN_STYLES)
from trttt_mm.datasets.synthetic.sampling import CLASSES
from tool_helpers import load_tool

H, W = 32, 40
TINY = dict(seed=0, num_train=3, num_val=2, num_target_train=2,
            num_target_val=2, height=H, width=W, images_per_building=2,
            progress=False)
# Decoded content (pixel arrays, not PNG bytes: independent of the PNG
# encoder's version) of the TINY benchmark, computed with the generator
# before shift families existed (commit 67ffa59). Source data and the
# appearance target must never change.
BEFORE_FAMILIES = {
    'taskonomy':
    '469800807f42928ea4a4e3495f92310760074ac828c994bebea3fd6c0b0a7996',
    'NYUDv2':
    '32218429f7c6a1661d46c0a7e0cec25c5960ad3e7cc16c14072102f69d99fa31',
}
N_VIEWS = 48  # views per domain in the distribution tests


def decoded_hash(root):
    h = hashlib.sha256()
    for dirpath, dirnames, names in sorted(os.walk(root)):
        dirnames.sort()
        for n in sorted(names):
            p = osp.join(dirpath, n)
            h.update(osp.relpath(p, root).replace(os.sep, '/').encode())
            if n.endswith('.png'):
                a = cv2.imread(p, cv2.IMREAD_UNCHANGED)
            elif n.endswith('.npy'):
                a = np.load(p)
            else:
                with open(p, 'rb') as f:
                    h.update(f.read())
                continue
            h.update(str((a.dtype.str, a.shape)).encode())
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def raw_files(root):
    out = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = osp.join(dirpath, n)
            with open(p, 'rb') as f:
                out[osp.relpath(p, root)] = f.read()
    return out


@pytest.fixture(scope='module')
def both(tmp_path_factory):
    base = tmp_path_factory.mktemp('families')
    plain = str(base / 'plain')
    full = str(base / 'all')
    generate_benchmark(plain, **TINY)
    summary = generate_benchmark(full, families='all', **TINY)
    return plain, full, summary


def test_source_and_appearance_target_unchanged(both):
    plain, full, _ = both
    for d, digest in BEFORE_FAMILIES.items():
        assert decoded_hash(osp.join(plain, d)) == digest, d
    # writing the other families beside them changes no byte of either
    for d in BEFORE_FAMILIES:
        assert raw_files(osp.join(plain, d)) == raw_files(osp.join(full, d))


def test_family_folders_and_meta(both):
    plain, full, summary = both
    for f in FAMILIES.values():
        root = osp.join(full, f.dirname)
        assert osp.isfile(osp.join(root, 'gt_sets', 'val.txt'))
        assert len(os.listdir(osp.join(root, 'images'))) == 4
        assert summary['layouts'][f.layout]['domain'] == f.domain
    meta = json.load(open(osp.join(full, 'meta.json')))
    assert meta['params']['families'] == list(FAMILY_NAMES)
    assert meta['params']['families_version'] == FAMILIES_VERSION
    assert meta['families_version'] == FAMILIES_VERSION
    assert meta['families']['geometry']['scene_changes']['hfov_deg'] == \
        list(FAMILIES['geometry'].scene.hfov_deg)
    # an appearance-only output keeps the parameters of before (its cache
    # stays valid) and still records the families' version
    meta = json.load(open(osp.join(plain, 'meta.json')))
    assert 'families' not in meta['params']
    assert set(meta['params']['counts']) == {'taskonomy', 'nyudv2'}
    assert meta['families_version'] == FAMILIES_VERSION
    assert not any(osp.exists(osp.join(plain, f.dirname))
                   for f in FAMILIES.values() if f.name != 'appearance')
    # a second run is cached
    again = generate_benchmark(full, families='all', **TINY)
    assert again['cached']


def test_family_images_differ_from_each_other(both):
    _, full, _ = both
    imgs = {f: cv2.imread(osp.join(full, FAMILIES[f].dirname, 'images',
                                   '0002.png')) for f in FAMILY_NAMES}
    for a in FAMILY_NAMES:
        for b in FAMILY_NAMES:
            if a < b:
                assert not np.array_equal(imgs[a], imgs[b]), (a, b)


def test_table_is_consistent():
    assert FAMILY_NAMES == ('appearance', 'geometry', 'content', 'mixed')
    assert len(set(DOMAIN_IDS.values())) == len(DOMAIN_IDS)
    app = FAMILIES['appearance']
    assert (app.domain, app.dirname, app.scene) == ('target', 'NYUDv2',
                                                    SOURCE_SCENE)
    assert FAMILIES['geometry'].style == FAMILIES['content'].style == \
        'source'
    assert FAMILIES['mixed'].style == 'target'
    mixed = FAMILIES['mixed'].scene.to_dict()
    for part in ('geometry', 'content'):
        for k, v in FAMILIES[part].to_dict()['scene_changes'].items():
            assert mixed[k] == v, (part, k)
    for f in FAMILIES.values():
        assert DOMAIN_STYLES[f.domain] in STYLES
        assert DOMAIN_SCENES[f.domain] == f.scene


def test_family_names_are_checked(tmp_path):
    assert normalise_families('mixed, geometry') == ('geometry', 'mixed')
    assert normalise_families(['all']) == FAMILY_NAMES
    with pytest.raises(ValueError, match="unknown shift family 'fog'"):
        normalise_families(['fog'])
    with pytest.raises(ValueError, match='at least one'):
        normalise_families([])
    with pytest.raises(ValueError, match='add nyudv2 to layouts'):
        generate_benchmark(str(tmp_path / 'x'), layouts=('taskonomy', ),
                           families=('geometry', ), **TINY)
    with pytest.raises(ValueError, match='domain .* expected one of'):
        render_view(0, 'nowhere', 'val', 0, H, W)


def test_scene_params_are_checked():
    with pytest.raises(ValueError, match='class_probs'):
        SceneParams(class_probs=(0.5, 0.5))
    with pytest.raises(ValueError, match='cam_height'):
        SceneParams(cam_height=(1.0, 3.5))
    with pytest.raises(ValueError, match='room_x'):
        SceneParams(room_x=(5.0, 4.0))
    # the defaults reproduce the original sampler (no params)
    a = sample_scene(np.random.default_rng(3), H, W)
    b = sample_scene(np.random.default_rng(3), H, W, params=SOURCE_SCENE)
    assert a.room == b.room and len(a.primitives) == len(b.primitives)
    c = sample_scene(np.random.default_rng(3), H, W,
                     params=replace(SOURCE_SCENE, hfov_deg=(40.0, 40.0)))
    assert c.room == a.room and c.camera.focal > a.camera.focal


def _views(domain, n=N_VIEWS):
    return [render_view(0, domain, 'val', i, H, W) for i in range(n)]


def test_geometry_family_shortens_the_depth_range():
    src, geo = _views('source'), _views('target_geometry')
    spec = FAMILIES['geometry'].scene

    def depths(views):
        return np.concatenate([g.depth[g.depth_valid] for _, g, _ in views])

    ds, dg = depths(src), depths(geo)
    # smaller rooms: the far end of the depth range comes much closer
    assert np.quantile(dg, 0.9) < 0.85 * np.quantile(ds, 0.9)
    assert dg.max() < ds.max()
    max_room = np.hypot(spec.room_x[1], spec.room_z[1])
    assert dg.max() <= max_room + 1e-6
    for _, _, scene in geo:
        cam = scene.camera
        hfov = 2 * np.degrees(np.arctan(W / 2 / cam.focal))
        assert spec.hfov_deg[0] - 1e-6 <= hfov <= spec.hfov_deg[1] + 1e-6
        assert spec.cam_height[0] <= cam.position[1] <= spec.cam_height[1]
        pitch_down = -np.degrees(np.arcsin(cam.forward[1]))
        assert spec.pitch_down_deg[0] - 1e-6 <= pitch_down <= \
            spec.pitch_down_deg[1] + 1e-6
        assert spec.room_x[0] <= scene.room[0] <= spec.room_x[1]
    # a more level camera sees more wall and less floor

    def frac(views, name):
        idx = CLASSES.index(name)
        return np.mean([(g.cls == idx).mean() for _, g, _ in views])


    assert frac(geo, 'floor') < frac(src, 'floor')
    assert frac(geo, 'wall') > frac(src, 'wall')


def _objects(views):
    """Shared-class names of the objects and their heights (top y)."""
    out = []
    for _, _, scene in views:
        top = {}
        for p in scene.primitives:
            name = CLASSES[p.cls]
            if name not in SHARED_CLASSES:
                continue
            # box (x0, y0, z0, x1, y1, z1), cyl (cx, cz, r, y0, y1),
            # sphere (cx, cy, cz, r)
            y1 = p.params[1] + p.params[3] if p.kind == 'sph' else \
                p.params[4]
            top[p.instance] = (name, max(y1, top.get(p.instance,
                                                     (name, 0.0))[1]))
        out.extend(top.values())
    return out


def test_content_family_changes_classes_counts_and_sizes():
    src, con = _objects(_views('source')), _objects(_views('target_content'))
    spec = FAMILIES['content'].scene
    assert len(con) > 1.2 * len(src)  # more objects per view

    def hist(objs):
        names = [n for n, _ in objs]
        return np.array([names.count(c) for c in SHARED_CLASSES]) / len(
            names)

    hs, hc = hist(src), hist(con)
    chair = SHARED_CLASSES.index('chair')
    probs = np.array(spec.class_probs)
    # the placed objects follow the specified frequencies, not uniform ones
    assert abs(hc[chair] - probs[chair]) < 0.1
    assert hc[chair] > hs[chair] + 0.1
    assert np.abs(hc - probs).sum() < np.abs(hs - probs).sum()
    # smaller furniture: the mean height of a chair drops

    def mean_top(objs, cls):
        return np.mean([t for n, t in objs if n == cls])

    assert mean_top(con, 'chair') < 0.95 * mean_top(src, 'chair')


def test_cli_writes_families(tmp_path, capsys):
    mod = load_tool('data/make_synthetic')
    out = str(tmp_path / 'cli')
    args = ['--out', out, '--num-train', '2', '--num-val', '1',
            '--num-target-train', '1', '--num-target-val', '1', '--height',
            str(H), '--width', str(W), '--quiet']
    assert mod.main(args + ['--families', 'content', 'mixed']) == 0
    text = capsys.readouterr().out
    assert 'NYUDv2_content' in text and 'NYUDv2_mixed' in text
    assert osp.isdir(osp.join(out, 'NYUDv2_mixed', 'images'))
    assert not osp.exists(osp.join(out, 'NYUDv2'))
    assert mod.main(args + ['--out', str(tmp_path / 'bad'), '--families',
                            'fog']) == 1
    assert "unknown shift family 'fog'" in capsys.readouterr().err
