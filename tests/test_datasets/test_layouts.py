"""Layout variants: NYUD-v2 MTI-Net package, Taskonomy original layout,
Taskonomy edge domains, and the synthetic generator's three layouts."""
import os
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest

from trttt_mm.datasets import (DataFormatError, NYUDv2MultiTaskDataset,
                               TaskonomyMultiTaskDataset)
from fixtures_nyud import H as NH
from fixtures_nyud import W as NW
from fixtures_nyud import make_nyud
from fixtures_pascal import snapshot
from fixtures_taskonomy import H as TH
from fixtures_taskonomy import W as TW
from fixtures_taskonomy import DOMAINS, known_maps, make_taskonomy
from tool_helpers import load_tool

LOAD = [
    dict(type='LoadMultiTaskImageFromFile'),
    dict(type='LoadMultiTaskAnnotations'),
]


def NYUD(*args, **kwargs):
    kwargs.setdefault('serialize_data', False)
    return NYUDv2MultiTaskDataset(*args, **kwargs)


def Taskonomy(*args, **kwargs):
    kwargs.setdefault('serialize_data', False)
    return TaskonomyMultiTaskDataset(*args, **kwargs)


# ------------------------------------------------------------------ NYUD-v2
def to_mtinet(root, ids=('0000', '0001')):
    """Turn an ATRC fixture into the MTI-Net one: .jpg images, .npy
    normals (float xyz) and edges (float 0/1)."""
    normal = np.zeros((NH, NW, 3), np.float32)
    normal[..., 1] = -1.0
    normal[0, 0] = (0.6, 0.0, 0.8)
    normal[0, 1] = 0.0  # invalid
    edge = np.zeros((NH, NW), np.float32)
    edge[1, :] = 1.0
    for i in ids:
        img = cv2.imread(osp.join(root, 'images', i + '.png'))
        os.remove(osp.join(root, 'images', i + '.png'))
        cv2.imwrite(osp.join(root, 'images', i + '.jpg'), img)
        for folder in ('normals', 'edge'):
            os.remove(osp.join(root, folder, i + '.png'))
        np.save(osp.join(root, 'normals', i + '.npy'), normal)
        np.save(osp.join(root, 'edge', i + '.npy'), edge)
    return normal, edge


def test_nyud_auto_detects_atrc(tmp_path):
    root = make_nyud(tmp_path / 'atrc')
    ds = NYUD(root, pipeline=LOAD)
    assert ds.package == 'atrc'
    assert ds.suffixes['image'] == '.png' and ds.suffixes['edge'] == '.png'
    res = ds[0]
    assert res['gt_depth_map'][0, 4] == 2.5  # metres
    assert set(np.unique(res['gt_edge_map']).tolist()) == {0.0, 1.0}


def test_nyud_auto_detects_mtinet(tmp_path):
    root = make_nyud(tmp_path / 'mtinet')
    normal, edge = to_mtinet(root)
    ds = NYUD(root, class_map='t2n', pipeline=LOAD)
    assert ds.package == 'mtinet'
    assert ds.suffixes == dict(image='.jpg', semseg='.png', depth='.npy',
                               normal='.npy', edge='.npy')
    info = ds.get_data_info(1)
    assert info['img_path'].endswith(osp.join('images', '0001.jpg'))
    assert info['normal_path'].endswith(osp.join('normals', '0001.npy'))
    res = ds[1]
    assert res['img'].shape == (NH, NW, 3)
    nrm = res['gt_normal_map']
    assert nrm.min() >= -1 and nrm.max() <= 1
    np.testing.assert_allclose(nrm[0, 0], (0.6, 0.0, 0.8), atol=1e-6)
    assert not nrm[0, 1].any()
    np.testing.assert_allclose(nrm[2, 2], (0, -1, 0))
    np.testing.assert_array_equal(res['gt_edge_map'], edge)
    assert res['gt_seg_map'][1, :4].tolist() == [255, 0, 6, 255]
    assert res['gt_depth_map'][0, 4] == 2.5
    # choosing by argument gives the same files
    chosen = NYUD(root, img_suffix='.jpg', normal_suffix='.npy',
                  edge_suffix='.npy')
    assert chosen.get_data_info(1)['normal_path'] == info['normal_path']
    # ... and choosing the other package names the file it expected
    with pytest.raises(FileNotFoundError, match=r'images.*0000\.png'):
        NYUD(root, img_suffix='.png')
    with pytest.raises(ValueError, match=r"normal_suffix.*'\.npz'"):
        NYUD(root, normal_suffix='.npz')


def test_nyud_auto_requires_one_suffix_per_kind(tmp_path):
    root = make_nyud(tmp_path / 'mixed')
    os.remove(osp.join(root, 'normals', '0001.png'))
    np.save(osp.join(root, 'normals', '0001.npy'),
            np.zeros((NH, NW, 3), np.float32))
    with pytest.raises(FileNotFoundError, match=r'normals.*0001\.png'):
        NYUD(root)


# ---------------------------------------------------------------- Taskonomy
def make_original(root, views=((0, 0), (3, 1)), domains=DOMAINS):
    """One building in the original layout: <root>/<domain>/point_..."""
    maps = known_maps()
    rng = np.random.RandomState(1)
    for d in domains:
        os.makedirs(osp.join(root, d), exist_ok=True)
    for p, v in views:
        stem = f'point_{p}_view_{v}_domain_'
        cv2.imwrite(osp.join(root, 'rgb', stem + 'rgb.png'),
                    rng.randint(0, 256, (TH, TW, 3), dtype=np.uint8))
        for d, arr in maps.items():
            if d in domains:
                cv2.imwrite(osp.join(root, d, stem + d + '.png'), arr)
    return str(root)


def check_known_values(res):
    depth = res['gt_depth_map']
    assert depth[0, 0] == 0 and depth[0, 1] == 0.5 and depth[0, 2] == 2.0
    nrm = res['gt_normal_map']
    np.testing.assert_allclose(nrm[1, 0], (-1, 0, 0), atol=0.01)
    assert not nrm[1, 1].any()
    assert res['gt_edge_map'][2, :3].tolist() == [0, 1, 1]
    assert res['gt_seg_map'][3].tolist() == [255, 0, 255, 6, 255]  # t2n


def test_taskonomy_original_single_building(tmp_path):
    root = make_original(tmp_path / 'allensville')
    ds = Taskonomy(root, class_map='t2n', pipeline=LOAD)
    assert ds.layout == 'original'
    ids = [ds.get_data_info(i)['img_id'] for i in range(len(ds))]
    assert ids == ['allensville/point_0_view_0', 'allensville/point_3_view_1']
    info = ds.get_data_info(1)
    assert info['depth_path'] == osp.join(
        root, 'depth_zbuffer', 'point_3_view_1_domain_depth_zbuffer.png')
    check_known_values(ds[0])
    assert len(Taskonomy(root, split='all', layout='original')) == 2
    with pytest.raises(ValueError, match=r"one building.*split must be"):
        Taskonomy(root, split=['other'])
    with pytest.raises(FileNotFoundError, match=r"layout='omnidata'"):
        Taskonomy(root, layout='omnidata')


def test_taskonomy_original_several_buildings(tmp_path):
    base = tmp_path / 'taskonomy_orig'
    make_original(base / 'ab')
    make_original(base / 'cd', views=((7, 2), ))
    ds = Taskonomy(str(base), split=['cd', 'ab'], class_map='t2n',
                   pipeline=LOAD)
    assert ds.layout == 'original'
    ids = [ds.get_data_info(i)['img_id'] for i in range(len(ds))]
    assert ids == ['cd/point_7_view_2', 'ab/point_0_view_0',
                   'ab/point_3_view_1']
    check_known_values(ds[0])
    assert len(Taskonomy(str(base))) == 3  # split None: every building


def test_taskonomy_auto_and_omnidata_agree(tmp_path):
    root = make_taskonomy(tmp_path / 'omni')
    auto = Taskonomy(root, split='train')
    omni = Taskonomy(root, split='train', layout='omnidata')
    assert auto.layout == omni.layout == 'omnidata'
    assert [auto.get_data_info(i)['img_path'] for i in range(len(auto))] == \
        [omni.get_data_info(i)['img_path'] for i in range(len(omni))]
    assert len(Taskonomy(root)) == 3  # split None: every building
    with pytest.raises(ValueError, match=r"unknown layout 'flat'"):
        Taskonomy(root, layout='flat')
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(FileNotFoundError,
                       match=r'rgb/taskonomy.*original.*docs/datasets\.md'):
        Taskonomy(str(empty), split=['x'])


@pytest.mark.parametrize('domain', ['edge_occlusion', 'edge_texture'])
def test_taskonomy_edge_domain_and_bit_depth(tmp_path, domain):
    root = make_original(tmp_path / 'b', views=((0, 0), ),
                         domains=('rgb', 'segment_semantic'))
    os.makedirs(osp.join(root, domain))
    path = osp.join(root, domain, f'point_0_view_0_domain_{domain}.png')
    cv2.imwrite(path, known_maps()['edge_occlusion'])  # 16-bit
    ds = Taskonomy(root, tasks=('semseg', 'edge'), edge_domain=domain,
                   pipeline=LOAD)
    assert ds.get_data_info(0)['edge_path'] == path
    assert ds[0]['gt_edge_map'][2, :3].tolist() == [0, 1, 1]
    cv2.imwrite(path, np.full((TH, TW), 200, np.uint8))  # 8-bit
    with pytest.raises(DataFormatError,
                       match=rf'domain_{domain}\.png.*expected a 16-bit PNG, '
                       'got uint8'):
        ds[0]
    with pytest.raises(ValueError, match='edge_domain'):
        Taskonomy(root, edge_domain='edge_sobel')


# ---------------------------------------------------------------- synthetic
def test_make_synthetic_cli_three_layouts_load(tmp_path):
    from mmseg.registry import DATASETS
    cli = load_tool('data/make_synthetic')
    out = tmp_path / 'synth'
    assert cli.main([
        '--out', str(out), '--layouts', 'taskonomy', 'nyudv2', 'pascal',
        '--num-train', '2', '--num-val', '1', '--num-target-train', '1',
        '--num-target-val', '1', '--height', '24', '--width', '32',
        '--images-per-building', '2', '--quiet'
    ]) == 0
    before = snapshot(str(out))
    cfgs = [
        dict(type='TaskonomyMultiTaskDataset',
             data_root=str(out / 'taskonomy'), split='train', class_map='t2p',
             tasks=('semseg', 'normal', 'edge')),
        dict(type='NYUDv2MultiTaskDataset', data_root=str(out / 'NYUDv2'),
             split='val', class_map='t2n'),
        dict(type='PascalContextMultiTaskDataset',
             data_root=str(out / 'PASCAL_MT'), split='train',
             class_map='t2p', edge_cache_dir=None),
    ]
    for cfg in cfgs:
        ds = DATASETS.build(
            dict(cfg, pipeline=LOAD + [dict(type='PackMultiTaskInputs')]))
        assert len(ds) >= 1
        sample = ds[0]['data_samples']
        assert sample.gt_sem_seg.data.shape == (1, 24, 32)
        num = 6 if cfg['class_map'] == 't2p' else 7
        assert set(sample.gt_sem_seg.data.unique().tolist()) <= set(
            range(num)) | {255}
        assert set(sample.gt_edge_map.data.unique().tolist()) <= {0.0, 1.0}
        nrm = sample.gt_normal_map.data
        valid = nrm.abs().sum(0) > 0
        assert valid.any() and ((nrm.norm(dim=0)[valid] - 1).abs() <
                                1e-4).all()
        for i in range(1, len(ds)):
            ds[i]
    assert snapshot(str(out)) == before  # loading wrote nothing there
    shutil.rmtree(str(out))
