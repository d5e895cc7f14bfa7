"""TaskonomyMultiTaskDataset on hand-made files in the omnidata layout."""
import os
import os.path as osp
import cv2
import numpy as np
import pytest
from trttt_mm.datasets import DataFormatError, TaskonomyMultiTaskDataset

from fixtures_taskonomy import (  # noqa: F401
    H,
    W,
    LOAD,
    DOMAINS,
    Dataset,
    known_maps,
    view_path,
    make_taskonomy)


@pytest.fixture
def tk_root(tmp_path):
    return make_taskonomy(tmp_path / 'taskonomy')


@pytest.mark.parametrize('split', ['train', 'splits/train.txt', ['ab', 'cd']])
def test_split_forms(tk_root, split):
    ds = Dataset(tk_root, split=split)
    ids = [ds.get_data_info(i)['img_id'] for i in range(len(ds))]
    # buildings in split order, views in numeric (point, view) order
    assert ids == [
        'ab/point_0_view_0', 'cd/point_2_view_0', 'cd/point_10_view_1'
    ]


def test_absolute_split_path_and_data_info(tk_root, tmp_path):
    split_file = tmp_path / 'mine.txt'
    split_file.write_text('cd\n')
    ds = Dataset(tk_root, split=str(split_file), serialize_data=True)
    info = ds.get_data_info(1)
    assert info['img_path'] == view_path(tk_root, 'rgb', 'cd', 10, 1)
    assert info['depth_path'] == view_path(tk_root, 'depth_zbuffer', 'cd',
                                           10, 1)
    assert info['edge_path'] == view_path(tk_root, 'edge_occlusion', 'cd',
                                          10, 1)
    assert info['seg_map_path'] == view_path(tk_root, 'segment_semantic',
                                             'cd', 10, 1)
    assert (info['building'], info['point'], info['view']) == ('cd', 10, 1)
    assert info['decode_cfg']['depth'] == dict(
        bit_depth=16, scale=512.0, invalid_value=65535)
    assert ds.metainfo['classes'][0] == 'background'
    assert len(ds.metainfo['classes']) == 17


def test_loads_known_values(tk_root):
    ds = Dataset(tk_root, split=['ab'], pipeline=LOAD)
    res = ds[0]
    depth = res['gt_depth_map']
    assert depth.dtype == np.float32
    assert depth[0, 0] == 0 and depth[0, 1] == 0.5 and depth[0, 2] == 2.0
    normal = res['gt_normal_map']
    np.testing.assert_allclose(normal[0, 0], (0, 0, 1), atol=0.01)
    np.testing.assert_allclose(normal[1, 0], (-1, 0, 0), atol=0.01)
    np.testing.assert_allclose(
        np.linalg.norm(normal[0, 0]), 1.0, atol=1e-6)
    assert not normal[1, 1].any()
    edge = res['gt_edge_map']
    assert edge[2, :3].tolist() == [0, 1, 1]
    assert edge.sum() == 2
    seg = res['gt_seg_map']
    assert seg[3].tolist() == [255, 13, 8, 2, 16]
    assert seg[0, 0] == 0  # background is class 0


@pytest.mark.parametrize('class_map,row', [
    ('t2n', [255, 0, 255, 6, 255]),
    ('t2p', [255, 255, 1, 5, 255]),
])
def test_class_maps(tk_root, class_map, row):
    ds = Dataset(
        tk_root, split=['ab'], class_map=class_map, pipeline=LOAD)
    seg = ds[0]['gt_seg_map']
    assert seg[3].tolist() == row
    assert seg[0, 0] == 255


def test_edge_threshold_is_configurable(tk_root):
    ds = Dataset(
        tk_root, split=['ab'], tasks=('edge', ), edge_threshold=0.0,
        pipeline=LOAD)
    assert ds[0]['gt_edge_map'][2, :3].tolist() == [1, 1, 1]


def test_requires_every_task_file(tk_root):
    os.remove(view_path(tk_root, 'normal', 'cd', 2, 0))
    with pytest.raises(FileNotFoundError,
                       match=r'point_2_view_0_domain_normal\.png'):
        Dataset(tk_root, split='train')
    ds = Dataset(
        tk_root, split='train', tasks=('depth', 'semseg'))
    assert len(ds) == 3


def test_bad_split_and_root(tk_root, tmp_path):
    with pytest.raises(FileNotFoundError, match=r'splits.*val\.txt'):
        Dataset(tk_root, split='val')
    with pytest.raises(FileNotFoundError, match=r"building 'zz'"):
        Dataset(tk_root, split=['zz'])
    with pytest.raises(FileNotFoundError, match=r'docs/datasets\.md'):
        Dataset(str(tmp_path / 'none'), split=['ab'])
    with pytest.raises(ValueError, match=r"'edges'"):
        Dataset(tk_root, split=['ab'], tasks=('edges', ))


def test_eight_bit_depth_and_unknown_ids(tk_root):
    cv2.imwrite(
        view_path(tk_root, 'depth_zbuffer', 'ab', 0, 0),
        np.full((H, W), 4, np.uint8))
    ds = Dataset(tk_root, split=['ab'], pipeline=LOAD)
    with pytest.raises(DataFormatError,
                       match=r'domain_depth_zbuffer\.png.*expected a '
                       r'16-bit PNG, got uint8'):
        ds[0]
    seg = known_maps()['segment_semantic']
    seg[0, 0] = 30
    cv2.imwrite(view_path(tk_root, 'segment_semantic', 'ab', 0, 0), seg)
    ds = Dataset(
        tk_root, split=['ab'], tasks=('semseg', ), pipeline=LOAD)
    with pytest.raises(DataFormatError,
                       match=r'segment_semantic\.png.*\[30\].*0\.\.17'):
        ds[0]
