"""Tests of the procedural synthetic benchmark (tiny sizes, a few images)."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from trttt_mm.datasets.synthetic import (CLASSES, NYU40_IDS,
                                         PASCAL_CONTEXT_IDS, SHARED_CLASSES,
                                         TASKONOMY_SEG_IDS, VOC_IDS,
                                         decode_normals, generate_benchmark,
                                         render_geometry, render_view,
                                         sample_scene)
from trttt_mm.datasets.synthetic.writers import building_name
from tool_helpers import load_tool

H, W = 32, 40
SMALL = dict(num_train=3, num_val=2, num_target_train=2, num_target_val=2,
             height=H, width=W, images_per_building=2, progress=False)


def _files(root):
    out = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = osp.join(dirpath, n)
            rel = osp.relpath(p, root)
            if rel != 'meta.json':
                with open(p, 'rb') as f:
                    out[rel] = f.read()
    return out


def _read(path):
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    assert img is not None, path
    return img


def _rgb(path):
    return _read(path)[..., ::-1]


@pytest.fixture(scope='module')
def bench(tmp_path_factory):
    out = tmp_path_factory.mktemp('synth') / 'bench'
    summary = generate_benchmark(
        str(out), seed=0, layouts=('taskonomy', 'nyudv2', 'pascal'), **SMALL)
    return str(out), summary


def test_tree_and_summary(bench):
    out, summary = bench
    assert not summary['cached']
    assert summary['num_images'] == 5 + 4 + 4
    assert set(summary['layouts']) == {'taskonomy', 'nyudv2', 'pascal'}
    tk = summary['layouts']['taskonomy']
    assert tk['buildings'] == {'train': ['synthA', 'synthB'],
                               'val': ['synthC']}
    with open(osp.join(out, 'taskonomy', 'splits', 'train.txt')) as f:
        assert f.read().split() == ['synthA', 'synthB']
    with open(osp.join(out, 'taskonomy', 'splits', 'val.txt')) as f:
        assert f.read().split() == ['synthC']
    for dom in ('rgb', 'depth_zbuffer', 'normal', 'edge_occlusion',
                'segment_semantic'):
        for b, p in (('synthA', 0), ('synthA', 1), ('synthB', 0),
                     ('synthC', 0), ('synthC', 1)):
            assert osp.isfile(
                osp.join(out, 'taskonomy', dom, 'taskonomy', b,
                         f'point_{p}_view_0_domain_{dom}.png'))
    with open(osp.join(out, 'NYUDv2', 'gt_sets', 'train.txt')) as f:
        assert f.read().split() == ['0000', '0001']
    with open(osp.join(out, 'NYUDv2', 'gt_sets', 'val.txt')) as f:
        assert f.read().split() == ['0002', '0003']
    for i in ('0000', '0001', '0002', '0003'):
        for d, ext in (('images', 'png'), ('depth', 'npy'),
                       ('normals', 'png'), ('segmentation', 'png'),
                       ('edge', 'png')):
            assert osp.isfile(osp.join(out, 'NYUDv2', d, f'{i}.{ext}'))
    with open(osp.join(out, 'PASCAL_MT', 'ImageSets', 'Context',
                       'val.txt')) as f:
        assert f.read().split() == ['2008_000003', '2008_000004']
    meta = json.load(open(osp.join(out, 'meta.json')))
    assert meta['complete'] and meta['params']['seed'] == 0
    assert meta['params']['height'] == H


def test_taskonomy_encodings(bench):
    out, _ = bench
    root = osp.join(out, 'taskonomy')
    allowed_seg = set(TASKONOMY_SEG_IDS.values())
    saw_invalid = False
    for split, n in (('train', 3), ('val', 2)):
        for i in range(n):
            b = building_name(i // 2 + (0 if split == 'train' else 2))

            def path(d, b=b, p=i % 2):
                return osp.join(root, d, 'taskonomy', b,
                                f'point_{p}_view_0_domain_{d}.png')

            rgb_ref, geom, _ = render_view(0, 'source', split, i, H, W,
                                           group=b)
            rgb = _rgb(path('rgb'))
            assert rgb.dtype == np.uint8 and rgb.shape == (H, W, 3)
            np.testing.assert_array_equal(rgb, rgb_ref)

            depth = _read(path('depth_zbuffer'))
            assert depth.dtype == np.uint16 and depth.shape == (H, W)
            valid = depth != 65535
            np.testing.assert_array_equal(valid, geom.depth_valid)
            saw_invalid |= bool((~valid).any())
            np.testing.assert_allclose(
                depth[valid] / 512.0, geom.depth[valid], atol=1.01 / 1024)

            nrm = _rgb(path('normal'))
            assert nrm.dtype == np.uint8 and nrm.shape == (H, W, 3)
            n = decode_normals(nrm)
            np.testing.assert_allclose(
                np.linalg.norm(n, axis=-1), 1.0, atol=0.02)
            np.testing.assert_allclose(n, geom.normal, atol=1.01 / 255)

            edge = _read(path('edge_occlusion'))
            assert edge.dtype == np.uint16
            assert set(np.unique(edge)) <= {0, 65535}
            np.testing.assert_array_equal(edge > 0, geom.edge)

            seg = _read(path('segment_semantic'))
            assert seg.dtype == np.uint8 and seg.shape == (H, W)
            assert set(np.unique(seg).tolist()) <= allowed_seg
    # windows are not guaranteed in 5 tiny images; only check the encoding
    assert isinstance(saw_invalid, bool)


def test_nyudv2_encodings(bench):
    out, _ = bench
    root = osp.join(out, 'NYUDv2')
    allowed = set(NYU40_IDS.values()) | {0}
    for k, (split, i) in enumerate([('train', 0), ('train', 1), ('val', 0),
                                    ('val', 1)]):
        sid = f'{k:04d}'
        rgb_ref, geom, _ = render_view(0, 'target', split, i, H, W)
        img = _rgb(osp.join(root, 'images', sid + '.png'))
        assert img.dtype == np.uint8 and img.shape == (H, W, 3)
        np.testing.assert_array_equal(img, rgb_ref)
        depth = np.load(osp.join(root, 'depth', sid + '.npy'))
        assert depth.dtype == np.float32 and depth.shape == (H, W)
        np.testing.assert_array_equal(depth > 0, geom.depth_valid)
        np.testing.assert_allclose(depth[depth > 0],
                                   geom.depth[geom.depth_valid])
        n = decode_normals(_rgb(osp.join(root, 'normals', sid + '.png')))
        np.testing.assert_allclose(np.linalg.norm(n, axis=-1), 1.0,
                                   atol=0.02)
        seg = _read(osp.join(root, 'segmentation', sid + '.png'))
        assert seg.dtype == np.uint8 and seg.ndim == 2
        assert set(np.unique(seg).tolist()) <= allowed
        edge = _read(osp.join(root, 'edge', sid + '.png'))
        assert edge.dtype == np.uint8 and edge.ndim == 2
        assert set(np.unique(edge).tolist()) <= {0, 255}
        np.testing.assert_array_equal(edge == 255, geom.edge)


def test_pascal_encodings(bench):
    from scipy.io import loadmat
    out, _ = bench
    root = osp.join(out, 'PASCAL_MT')
    with open(osp.join(root, 'ImageSets', 'Context', 'train.txt')) as f:
        ids = f.read().split()
    assert ids == ['2008_000001', '2008_000002']
    for sid in ids:
        img = _read(osp.join(root, 'JPEGImages', sid + '.jpg'))
        assert img.dtype == np.uint8 and img.shape == (H, W, 3)
        voc = _read(osp.join(root, 'semseg', 'VOC12', sid + '.png'))
        assert voc.dtype == np.uint8
        assert set(np.unique(voc).tolist()) <= set(VOC_IDS.values()) | {0}
        lm = loadmat(osp.join(root, 'pascal-context', 'trainval',
                              sid + '.mat'))['LabelMap']
        assert lm.dtype == np.uint16 and lm.shape == (H, W)
        assert set(np.unique(lm).tolist()) <= set(PASCAL_CONTEXT_IDS.values())
        n = decode_normals(_rgb(osp.join(root, 'normals_distill',
                                         sid + '.png')))
        np.testing.assert_allclose(np.linalg.norm(n, axis=-1), 1.0,
                                   atol=0.02)


def test_deterministic_and_seed_dependent(bench, tmp_path):
    out, _ = bench
    again = tmp_path / 'again'
    generate_benchmark(str(again), seed=0,
                       layouts=('taskonomy', 'nyudv2', 'pascal'), **SMALL)
    a, b = _files(out), _files(str(again))
    assert a.keys() == b.keys() and len(a) > 0
    for k in a:
        assert a[k] == b[k], k
    other = tmp_path / 'other'
    generate_benchmark(str(other), seed=1, **SMALL)
    c = _files(str(other))
    rgb_keys = [k for k in c if '/rgb/' in k or k.startswith('NYUDv2/images')]
    assert rgb_keys and all(a[k] != c[k] for k in rgb_keys)


def test_same_scene_two_domains():
    """One scene in both styles: same geometry, different appearance."""
    src_rgb, src_geom, _ = render_view(3, 'source', 'val', 5, 48, 64)
    tgt_rgb, tgt_geom, _ = render_view(3, 'target', 'val', 5, 48, 64,
                                       scene_domain='source')
    for f in ('depth', 'depth_valid', 'normal', 'cls', 'instance', 'edge'):
        np.testing.assert_array_equal(getattr(src_geom, f),
                                      getattr(tgt_geom, f))
    diff = np.abs(src_rgb.astype(float) - tgt_rgb.astype(float)).mean()
    assert diff > 20


def test_domain_statistics():
    """Appearance differs between domains, geometry distributions do not."""
    stats = {}
    for dom in ('source', 'target'):
        rgb, depth, cls = [], [], []
        for i in range(40):
            im, g, _ = render_view(0, dom, 'train', i, 24, 32)
            rgb.append(im.reshape(-1, 3).astype(float))
            depth.append(g.depth.mean())
            cls.append(np.bincount(g.cls.ravel(), minlength=len(CLASSES)))
        rgb = np.concatenate(rgb)
        stats[dom] = dict(mean=rgb.mean(0), std=rgb.std(0),
                          depth=np.mean(depth),
                          cls=np.sum(cls, 0) / np.sum(cls))
    s, t = stats['source'], stats['target']
    assert np.abs(s['mean'] - t['mean']).max() > 20
    assert abs(s['depth'] - t['depth']) < 0.5
    # class frequencies are similar (same scene distribution)
    assert np.abs(s['cls'] - t['cls']).max() < 0.1


def test_class_geometry_is_distinct():
    """Every shared class appears, with its own characteristic height."""
    heights = {c: [] for c in SHARED_CLASSES}
    rng = np.random.default_rng(0)
    for _ in range(40):
        scene = sample_scene(rng, 24, 32)
        tops = {}
        for p in scene.primitives:
            top = p.params[4] if p.kind in ('box', 'cyl') else (
                p.params[1] + p.params[3])
            tops[p.instance] = max(tops.get(p.instance, 0), top)
        for inst, top in tops.items():
            name = CLASSES[scene.instance_classes[inst]]
            if name in heights:
                heights[name].append(top)
    med = {c: np.median(v) for c, v in heights.items()}
    assert all(len(v) > 0 for v in heights.values())
    assert med['refrigerator'] > 1.5 > med['bed'] > med['table'] > 0.6
    assert med['sofa'] < 1.0 and med['chair'] < 1.0


def test_edges_follow_object_boundaries():
    rng = np.random.default_rng(4)
    scene = sample_scene(rng, 48, 64)
    g = render_geometry(scene)
    assert g.edge.dtype == bool and g.edge.any()
    inst = g.instance
    boundary = np.zeros_like(g.edge)
    diff = (inst[:, 1:] != inst[:, :-1])
    boundary[:, 1:] |= diff
    boundary[:, :-1] |= diff
    diff = (inst[1:] != inst[:-1])
    boundary[1:] |= diff
    boundary[:-1] |= diff
    assert g.edge[boundary].all()
    # normals are unit and face the viewing ray; camera frame: x right,
    # y up, z towards the viewer, so the ray of pixel (x, y) is (x, y, -1)
    assert np.allclose(np.linalg.norm(g.normal, axis=-1), 1, atol=1e-5)
    cam = scene.camera
    xs = (np.arange(64) + 0.5 - 32) / cam.focal
    ys = -(np.arange(48) + 0.5 - 24) / cam.focal
    ray = np.stack(np.broadcast_arrays(xs[None, :], ys[:, None], -1.0), -1)
    assert ((g.normal * ray).sum(-1) < 1e-6).all()
    # the floor points up (+y), walls seen head-on point to the viewer (+z)
    floor = g.cls == CLASSES.index('floor')
    assert (g.normal[floor][:, 1] > 0.3).all()


def test_cache_and_refuse_overwrite(tmp_path):
    out = tmp_path / 'b'
    s1 = generate_benchmark(str(out), seed=2, **SMALL)
    assert not s1['cached']
    rgb = osp.join(str(out), 'NYUDv2', 'images', '0000.png')
    mtime = os.stat(rgb).st_mtime_ns
    s2 = generate_benchmark(str(out), seed=2, **SMALL)
    assert s2['cached'] and os.stat(rgb).st_mtime_ns == mtime
    assert s2['layouts'] == s1['layouts']

    # other parameters: refuse unless forced
    with pytest.raises(FileExistsError):
        generate_benchmark(str(out), seed=3, **SMALL)
    assert os.stat(rgb).st_mtime_ns == mtime
    s3 = generate_benchmark(str(out), seed=3, force=True, **SMALL)
    assert not s3['cached']
    assert json.load(open(osp.join(str(out), 'meta.json')))['params'][
        'seed'] == 3

    # a missing file makes the cache incomplete: regenerated, no force needed
    os.remove(rgb)
    s4 = generate_benchmark(str(out), seed=3, **SMALL)
    assert not s4['cached'] and osp.isfile(rgb)


def test_refuse_user_files(tmp_path):
    out = tmp_path / 'user'
    out.mkdir()
    mine = out / 'notes.txt'
    mine.write_text('precious')
    with pytest.raises(FileExistsError):
        generate_benchmark(str(out), **SMALL)
    assert mine.read_text() == 'precious'
    assert not (out / 'taskonomy').exists()
    generate_benchmark(str(out), force=True, **SMALL)
    assert mine.read_text() == 'precious'  # force replaces only our folders
    assert (out / 'taskonomy').is_dir()


def test_interrupted_run_is_regenerated(tmp_path):
    out = tmp_path / 'partial'
    generate_benchmark(str(out), **SMALL)
    meta_path = out / 'meta.json'
    meta = json.loads(meta_path.read_text())
    meta['complete'] = False
    meta_path.write_text(json.dumps(meta))
    s = generate_benchmark(str(out), **SMALL)
    assert not s['cached']
    assert json.loads(meta_path.read_text())['complete']


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='unknown layout'):
        generate_benchmark(str(tmp_path / 'x'), layouts=('cityscapes', ),
                           **SMALL)
    with pytest.raises(ValueError):
        generate_benchmark(str(tmp_path / 'y'), **dict(SMALL, num_train=-1))


def _load_cli():
    return load_tool('data/make_synthetic')


def test_cli(tmp_path, capsys):
    cli = _load_cli()
    out = tmp_path / 'cli'
    argv = [
        '--out', str(out), '--seed', '0', '--num-train', '2', '--num-val',
        '1', '--num-target-train', '1', '--num-target-val', '1', '--height',
        str(H), '--width', str(W), '--quiet'
    ]
    assert cli.main(argv) == 0
    assert osp.isfile(out / 'taskonomy' / 'splits' / 'train.txt')
    capsys.readouterr()
    assert cli.main(argv) == 0
    assert 'cached' in capsys.readouterr().out
    assert cli.main(argv + ['--seed', '5']) == 1
    assert 'refusing' in capsys.readouterr().err
    assert cli.main(argv + ['--seed', '5', '--force']) == 0


def test_dataset_classes_read_the_benchmark(tmp_path):
    """The registered dataset classes load what the generator writes."""
    from mmengine.registry import init_default_scope
    from mmseg.registry import DATASETS

    import trttt_mm  # noqa: F401  (registers the datasets)
    init_default_scope('mmseg')
    out = tmp_path / 'ds'
    generate_benchmark(str(out), **SMALL)
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadMultiTaskAnnotations'),
        dict(type='PackMultiTaskInputs')
    ]
    for cfg, n in ((dict(type='TaskonomyMultiTaskDataset',
                         data_root=str(out / 'taskonomy'), split='train'), 3),
                   (dict(type='NYUDv2MultiTaskDataset',
                         data_root=str(out / 'NYUDv2'), split='val'), 2)):
        ds = DATASETS.build(dict(cfg, class_map='t2n', pipeline=pipeline))
        assert len(ds) == n
        sample = ds[0]['data_samples']
        seg = sample.gt_sem_seg.data
        assert seg.shape[-2:] == (H, W)
        assert set(seg.unique().tolist()) <= set(range(7)) | {255}
        depth = sample.gt_depth_map.data
        assert (depth > 0).any() and float(depth.max()) < 20
        nrm = sample.gt_normal_map.data
        norm = nrm.norm(dim=0)
        assert ((norm - 1).abs() < 0.02).all()
        edge = sample.gt_edge_map.data
        assert set(edge.unique().tolist()) <= {0.0, 1.0}


def test_mat_files_do_not_depend_on_the_clock(tmp_path, monkeypatch):
    """scipy stamps .mat headers with the time; two runs a second apart
    must still write the same bytes."""
    import time
    small = dict(SMALL, num_train=0, num_val=0, layouts=('pascal', ))
    outs = []
    for i, stamp in enumerate(('Mon Jan  1 00:00:00 2001',
                               'Tue Jan  2 00:00:01 2001')):
        monkeypatch.setattr(time, 'asctime', lambda *a, s=stamp: s)
        out = tmp_path / f'run{i}'
        generate_benchmark(str(out), seed=0, **small)
        outs.append(_files(str(out)))
    mats = [k for k in outs[0] if k.endswith('.mat')]
    assert mats and all(outs[0][k] == outs[1][k] for k in mats)
    assert outs[0] == outs[1]
