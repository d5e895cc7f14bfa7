"""NYUDv2MultiTaskDataset on hand-made files in the ATRC layout."""
import os
import os.path as osp
import cv2
import numpy as np
import pytest
from trttt_mm.datasets import DataFormatError, NYUDv2MultiTaskDataset

from fixtures_nyud import (  # noqa: F401
    H,
    W,
    LOAD,
    Dataset,
    encode_normals,
    known_maps,
    make_nyud)


@pytest.fixture
def nyud_root(tmp_path):
    return make_nyud(tmp_path / 'NYUDv2')


def test_lists_samples(nyud_root):
    ds = Dataset(
        nyud_root, split='train', pipeline=[], serialize_data=True)
    assert len(ds) == 2
    info = ds.get_data_info(1)
    assert info['img_id'] == '0001'
    assert info['img_path'] == osp.join(nyud_root, 'images', '0001.png')
    assert info['depth_path'].endswith(osp.join('depth', '0001.npy'))
    assert info['normal_path'].endswith(osp.join('normals', '0001.png'))
    assert info['seg_map_path'].endswith(osp.join('segmentation', '0001.png'))
    assert info['edge_path'].endswith(osp.join('edge', '0001.png'))
    assert info['tasks'] == ('semseg', 'depth', 'normal', 'edge')
    assert info['decode_cfg']['semseg'] == dict(
        label_set='nyudv2', class_map=None)
    assert len(ds.metainfo['classes']) == 40
    assert len(ds.metainfo['palette']) == 40
    assert ds.metainfo['tasks'] == ('semseg', 'depth', 'normal', 'edge')


def test_loads_known_values_native(nyud_root):
    ds = Dataset(nyud_root, split='train', pipeline=LOAD)
    res = ds[0]
    assert res['img'].shape == (H, W, 3) and res['img'].dtype == np.uint8
    depth = res['gt_depth_map']
    assert depth.dtype == np.float32 and depth.shape == (H, W)
    assert depth[0, :4].tolist() == [0, 0, 0, 0]  # nan, inf, -1, 0
    assert depth[0, 4] == 2.5
    seg = res['gt_seg_map']
    assert seg.dtype == np.uint8
    assert seg[1, :4].tolist() == [255, 23, 4, 39]
    assert seg[0, 0] == 0  # wall
    normal = res['gt_normal_map']
    assert normal.shape == (H, W, 3) and normal.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(normal[0, 0]), 1, atol=1e-6)
    np.testing.assert_allclose(normal[2, 0], (1, 0, 0), atol=0.01)
    assert normal[0, 0, 2] > 0.99
    assert not normal[2, 1].any() and not normal[2, 2].any()
    edge = res['gt_edge_map']
    assert set(np.unique(edge).tolist()) == {0.0, 1.0}
    assert edge[3].all() and not edge[:3].any()


def test_class_map_t2n(nyud_root):
    ds = Dataset(
        nyud_root, split='train', class_map='t2n', pipeline=LOAD)
    assert ds.metainfo['classes'] == ('refrigerator', 'table', 'toilet',
                                      'sofa', 'bed', 'sink', 'chair')
    seg = ds[0]['gt_seg_map']
    assert seg[1, :4].tolist() == [255, 0, 6, 255]
    assert seg[0, 0] == 255


def test_task_subset_and_indices(nyud_root):
    ds = Dataset(
        nyud_root, split='train', tasks=('depth', ), indices=1, pipeline=LOAD)
    assert len(ds) == 1
    info = ds.get_data_info(0)
    assert 'depth_path' in info and 'seg_map_path' not in info
    res = ds[0]
    assert 'gt_depth_map' in res and 'gt_seg_map' not in res
    assert res['tasks'] == ('depth', )


def test_split_as_path_and_mtinet_suffixes(tmp_path):
    root = make_nyud(tmp_path / 'n', ids=('0007', ), split='val',
                     img_ext='.jpg')
    vec = np.zeros((H, W, 3), np.float32)
    vec[..., 1] = -1
    np.save(osp.join(root, 'normals', '0007.npy'), vec)
    np.save(osp.join(root, 'edge', '0007.npy'),
            np.eye(H, W, dtype=np.float32))
    ds = Dataset(
        root, split='gt_sets/val.txt', img_suffix='.jpg',
        normal_suffix='.npy', edge_suffix='.npy', pipeline=LOAD)
    res = ds[0]
    assert res['img_path'].endswith('0007.jpg')
    np.testing.assert_allclose(res['gt_normal_map'][..., 1], -1)
    np.testing.assert_array_equal(res['gt_edge_map'], np.eye(H, W))


def test_lazy_init_gives_metainfo_without_data(tmp_path):
    ds = Dataset(
        str(tmp_path / 'absent'), class_map='n2t', lazy_init=True)
    assert len(ds.metainfo['classes']) == 7
    with pytest.raises(FileNotFoundError):
        ds.full_init()


def test_missing_data_root(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        Dataset(str(tmp_path / 'nope'), split='train')
    msg = str(err.value)
    assert 'nope' in msg and 'docs/datasets.md' in msg
    assert 'python tools/data/make_synthetic.py' in msg


def test_missing_split_file(nyud_root):
    with pytest.raises(FileNotFoundError, match=r'gt_sets.*val\.txt'):
        Dataset(nyud_root, split='val')


def test_listed_but_absent_files(nyud_root):
    with open(osp.join(nyud_root, 'gt_sets', 'train.txt'), 'a') as f:
        f.write('0042\n')
    with pytest.raises(FileNotFoundError, match=r'images.*0042\.png'):
        Dataset(nyud_root, split='train')
    os.remove(osp.join(nyud_root, 'edge', '0001.png'))
    with open(osp.join(nyud_root, 'gt_sets', 'x.txt'), 'w') as f:
        f.write('0000\n0001\n')
    with pytest.raises(FileNotFoundError, match=r'edge.*0001\.png'):
        Dataset(nyud_root, split='x')
    # fine without the edge task
    assert len(Dataset(
        nyud_root, split='x', tasks=('semseg', 'depth'))) == 2


def test_unknown_task_and_class_map(nyud_root):
    with pytest.raises(ValueError, match=r"'segm'"):
        Dataset(nyud_root, tasks=('segm', 'depth'))
    with pytest.raises(ValueError, match=r"'t2x'.*'t2n'"):
        Dataset(nyud_root, class_map='t2x')
    with pytest.raises(ValueError, match=r"'t2p'"):
        Dataset(nyud_root, class_map='t2p')


def test_bad_files_raise_naming_them(nyud_root):
    seg = np.full((H, W), 41, np.uint8)
    path = osp.join(nyud_root, 'segmentation', '0001.png')
    cv2.imwrite(path, seg)
    ds = Dataset(nyud_root, pipeline=LOAD)
    with pytest.raises(DataFormatError, match=r'0001\.png.*\[41\]'):
        ds[1]
    with open(osp.join(nyud_root, 'images', '0000.png'), 'wb') as f:
        f.write(b'not a png')
    with pytest.raises(DataFormatError, match=r'images.*0000\.png'):
        ds[0]


def test_built_from_the_mmseg_registry(nyud_root):
    from mmseg.registry import DATASETS
    ds = DATASETS.build(
        dict(
            type='NYUDv2MultiTaskDataset',
            data_root=nyud_root,
            split='train',
            tasks=('semseg', 'normal'),
            serialize_data=False,
            pipeline=LOAD + [dict(type='PackMultiTaskInputs')]))
    sample = ds[0]['data_samples']
    assert sample.gt_sem_seg.data.shape == (1, H, W)
    assert sample.gt_normal_map.data.shape == (3, H, W)
    assert 'gt_depth_map' not in sample
