"""Task-aware loading, geometric and packing transforms."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

from mmseg.registry import TRANSFORMS
from trttt_mm.datasets import DataFormatError
from trttt_mm.datasets.transforms import (LoadMultiTaskAnnotations,
                                          LoadMultiTaskImageFromFile,
                                          MultiTaskRandomCrop,
                                          MultiTaskRandomFlip,
                                          MultiTaskResize, PackMultiTaskInputs)

H, W = 6, 8


@pytest.fixture(autouse=True)
def mmseg_scope():
    init_default_scope('mmseg')


def coord_results(h=H, w=W):
    """Results whose maps all encode the pixel coordinate (y * w + x)."""
    yx = np.arange(h * w).reshape(h, w)
    img = np.stack([yx % 256, yx // 256, np.zeros_like(yx)],
                   -1).astype(np.uint8)
    normal = np.zeros((h, w, 3), np.float32)
    normal[..., 0] = 0.6
    normal[..., 2] = 0.8
    normal[0, 0] = 0  # invalid
    return dict(
        img=img,
        img_shape=(h, w),
        ori_shape=(h, w),
        gt_seg_map=(yx % 200).astype(np.uint8),
        gt_depth_map=yx.astype(np.float32),
        gt_normal_map=normal,
        gt_edge_map=(yx % 2).astype(np.float32),
        tasks=('semseg', 'depth', 'normal', 'edge'))


def img_coord(img):
    return img[..., 0].astype(np.int64) + 256 * img[..., 1].astype(np.int64)


# ----------------------------------------------------------------- flip
def test_horizontal_flip_mirrors_maps_and_negates_normal_x():
    res = MultiTaskRandomFlip(prob=1.0)(coord_results())
    ref = coord_results()
    assert res['flip'] and res['flip_direction'] == 'horizontal'
    np.testing.assert_array_equal(res['img'], ref['img'][:, ::-1])
    for key in ('gt_seg_map', 'gt_depth_map', 'gt_edge_map'):
        np.testing.assert_array_equal(res[key], ref[key][:, ::-1])
    n = res['gt_normal_map']
    np.testing.assert_allclose(n[0, 1], (-0.6, 0, 0.8))
    assert not n[0, -1].any() and not np.signbit(n[0, -1]).any()


def test_vertical_flip_negates_normal_y_and_no_flip_records():
    res = coord_results()
    res['gt_normal_map'][..., 1] = 0.5
    res = MultiTaskRandomFlip(prob=1.0, direction='vertical')(res)
    np.testing.assert_array_equal(res['gt_depth_map'],
                                  coord_results()['gt_depth_map'][::-1])
    assert res['gt_normal_map'][0, 1, 1] == -0.5
    assert res['gt_normal_map'][0, 1, 0] == 0.6
    res = MultiTaskRandomFlip(prob=0.0)(coord_results())
    assert res['flip'] is False and res['flip_direction'] is None


# ----------------------------------------------------------------- resize
def test_resize_keeps_ids_and_alignment():
    ref = coord_results()
    res = MultiTaskResize(scale=(16, 9))(coord_results())
    assert res['img'].shape == (9, 16, 3) and res['img_shape'] == (9, 16)
    assert res['scale_factor'] == (2.0, 1.5)
    for key in ('gt_seg_map', 'gt_depth_map', 'gt_edge_map'):
        assert res[key].shape == (9, 16)
        assert set(np.unique(res[key])) <= set(np.unique(ref[key]))
    assert res['gt_seg_map'].dtype == np.uint8
    # nearest: each resized pixel holds an original pixel's coordinate,
    # the same one in every map
    coord = res['gt_depth_map'].astype(np.int64)
    np.testing.assert_array_equal(res['gt_seg_map'], coord % 200)
    np.testing.assert_array_equal(res['gt_edge_map'], coord % 2)
    n = res['gt_normal_map']
    norms = np.linalg.norm(n, axis=-1)
    assert np.allclose(norms[norms > 0], 1)
    assert (norms == 0).sum() >= 1


def test_resize_scale_factor_keep_ratio_and_img_only():
    res = MultiTaskResize(scale_factor=0.5)(coord_results())
    assert res['img'].shape[:2] == (3, 4)
    assert res['gt_normal_map'].shape == (3, 4, 3)
    res = MultiTaskResize(scale=(100, 12), keep_ratio=True)(coord_results())
    assert res['img'].shape[:2] == (12, 16)
    assert res['gt_depth_map'].shape == (12, 16)
    res = MultiTaskResize(scale=(16, 12), img_only=True)(coord_results())
    assert res['img'].shape[:2] == (12, 16)
    assert res['gt_depth_map'].shape == (H, W)


def test_random_resize_drives_multitask_resize():
    t = TRANSFORMS.build(
        dict(
            type='RandomResize',
            scale=(16, 12),
            ratio_range=(0.5, 2.0),
            resize_type='MultiTaskResize',
            keep_ratio=True))
    res = t(coord_results())
    for key in ('gt_seg_map', 'gt_depth_map', 'gt_normal_map',
                'gt_edge_map'):
        assert res[key].shape[:2] == res['img'].shape[:2]


# ----------------------------------------------------------------- crop
def test_crop_aligns_all_maps():
    res = MultiTaskRandomCrop(crop_size=(4, 5))(coord_results())
    assert res['img'].shape == (4, 5, 3) and res['img_shape'] == (4, 5)
    coord = img_coord(res['img'])
    y1, y2, x1, x2 = res['crop_bbox']
    np.testing.assert_array_equal(
        coord,
        np.arange(H * W).reshape(H, W)[y1:y2, x1:x2])
    np.testing.assert_array_equal(res['gt_depth_map'], coord)
    np.testing.assert_array_equal(res['gt_seg_map'], coord % 200)
    np.testing.assert_array_equal(res['gt_edge_map'], coord % 2)
    assert res['gt_normal_map'].shape == (4, 5, 3)
    # larger than the image: crops to the image
    res = MultiTaskRandomCrop(crop_size=100)(coord_results())
    assert res['img'].shape[:2] == (H, W)


def test_crop_cat_max_ratio_and_misalignment():
    res = coord_results()
    res['gt_seg_map'][:] = 3
    res['gt_seg_map'][:, -1] = 4
    out = MultiTaskRandomCrop(crop_size=(6, 2), cat_max_ratio=0.75)(res)
    assert out['img'].shape[:2] == (6, 2)
    res = MultiTaskResize(scale=(16, 12), img_only=True)(coord_results())
    with pytest.raises(ValueError, match='gt_depth_map'):
        MultiTaskRandomCrop(crop_size=4)(res)


# ----------------------------------------------------------------- pack
def test_pack_shapes_dtypes_and_meta():
    res = coord_results()
    res.update(img_path='a.png', flip=False, flip_direction=None,
               scale_factor=(1.0, 1.0))
    packed = PackMultiTaskInputs()(res)
    inputs, sample = packed['inputs'], packed['data_samples']
    assert inputs.shape == (3, H, W) and inputs.dtype == torch.uint8
    assert sample.gt_sem_seg.data.shape == (1, H, W)
    assert sample.gt_sem_seg.data.dtype == torch.long
    assert sample.gt_depth_map.data.shape == (1, H, W)
    assert sample.gt_depth_map.data.dtype == torch.float32
    assert sample.gt_normal_map.data.shape == (3, H, W)
    assert sample.gt_normal_map.data.dtype == torch.float32
    assert sample.gt_edge_map.data.shape == (1, H, W)
    assert sample.gt_edge_map.data.dtype == torch.float32
    np.testing.assert_allclose(sample.gt_normal_map.data[:, 1, 1].numpy(),
                               (0.6, 0, 0.8))
    for key in ('img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip',
                'flip_direction', 'tasks'):
        assert key in sample.metainfo, key
    assert sample.reduce_zero_label is False
    assert sample.tasks == ('semseg', 'depth', 'normal', 'edge')


def test_pack_only_present_maps():
    res = coord_results()
    for key in ('gt_seg_map', 'gt_normal_map', 'gt_edge_map'):
        del res[key]
    sample = PackMultiTaskInputs()(res)['data_samples']
    assert 'gt_depth_map' in sample and 'gt_sem_seg' not in sample
    assert 'gt_normal_map' not in sample


# ----------------------------------------------------------------- loading
def write_sample(root, seg=None, depth=None, edge=None, img=None):
    img = np.zeros((H, W, 3), np.uint8) if img is None else img
    paths = dict(img_path=osp.join(root, 'img.png'))
    cv2.imwrite(paths['img_path'], img)
    cfg = {}
    if seg is not None:
        paths['seg_map_path'] = osp.join(root, 'seg.png')
        cv2.imwrite(paths['seg_map_path'], seg)
        cfg['semseg'] = dict(label_set='taskonomy', class_map=None)
    if depth is not None:
        paths['depth_path'] = osp.join(root, 'depth.png')
        cv2.imwrite(paths['depth_path'], depth)
        cfg['depth'] = dict(bit_depth=16, scale=512.0, invalid_value=65535)
    if edge is not None:
        paths['edge_path'] = osp.join(root, 'edge.png')
        cv2.imwrite(paths['edge_path'], edge)
        cfg['edge'] = dict(bit_depth=16, threshold=0.5)
    tasks = tuple(t for t, k in (('semseg', 'seg_map_path'),
                                 ('depth', 'depth_path'),
                                 ('edge', 'edge_path')) if k in paths)
    return dict(paths, tasks=tasks, decode_cfg=cfg)


def load(results):
    results = LoadMultiTaskImageFromFile()(results)
    return LoadMultiTaskAnnotations()(results)


def test_load_errors_name_the_file(tmp_path):
    root = str(tmp_path)
    with pytest.raises(FileNotFoundError, match='missing.png'):
        LoadMultiTaskImageFromFile()(
            dict(img_path=osp.join(root, 'missing.png')))
    bad = osp.join(root, 'bad.png')
    with open(bad, 'wb') as f:
        f.write(b'\x89PNG garbage')
    with pytest.raises(DataFormatError, match=r'bad\.png.*expected an image'):
        LoadMultiTaskImageFromFile()(dict(img_path=bad))

    res = write_sample(root, depth=np.ones((H, W), np.uint8))
    with pytest.raises(DataFormatError,
                       match=r'depth\.png.*expected a 16-bit PNG, got uint8'):
        load(res)

    res = write_sample(root, depth=np.ones((H, W), np.uint16),
                       edge=np.ones((H, W + 1), np.uint16))
    with pytest.raises(DataFormatError) as err:
        load(res)
    msg = str(err.value)
    assert 'img.png: 6x8' in msg and 'edge.png: 6x9' in msg

    res = write_sample(root, seg=np.full((H, W), 18, np.uint8))
    with pytest.raises(DataFormatError, match=r'seg\.png.*\[18\]'):
        load(res)

    res = write_sample(root, seg=np.ones((H, W), np.uint8))
    res['decode_cfg'] = {}
    with pytest.raises(KeyError, match='label_set'):
        load(res)

    res = write_sample(root, seg=np.ones((H, W), np.uint8))
    with pytest.raises(KeyError, match='depth_path'):
        LoadMultiTaskAnnotations(tasks=('depth', ))(res)
    with pytest.raises(ValueError, match="'dept'"):
        LoadMultiTaskAnnotations(tasks=('dept', ))


def test_depth_nonfinite_becomes_invalid(tmp_path):
    depth = np.array([[np.nan, np.inf, -np.inf, 1.25]], np.float32)
    path = str(tmp_path / 'd.npy')
    np.save(path, depth)
    res = LoadMultiTaskAnnotations()(
        dict(depth_path=path, tasks=('depth', ), decode_cfg={}))
    assert res['gt_depth_map'].tolist() == [[0, 0, 0, 1.25]]


def test_pipeline_with_photometric_distortion(tmp_path):
    depth = np.full((H, W), 1024, np.uint16)
    seg = np.full((H, W), 3, np.uint8)
    img = np.random.RandomState(0).randint(0, 256, (H, W, 3), np.uint8)
    res = write_sample(str(tmp_path), seg=seg, depth=depth, img=img)
    pipeline = Compose([
        dict(type='LoadMultiTaskImageFromFile'),
        dict(type='LoadMultiTaskAnnotations'),
        dict(
            type='RandomResize',
            scale=(16, 12),
            ratio_range=(0.5, 2.0),
            resize_type='MultiTaskResize',
            keep_ratio=True),
        dict(type='MultiTaskRandomCrop', crop_size=(4, 4)),
        dict(type='MultiTaskRandomFlip', prob=0.5),
        dict(type='PhotoMetricDistortion'),
        dict(type='PackMultiTaskInputs'),
    ])
    out = pipeline(res)
    assert out['inputs'].shape == (3, 4, 4)
    assert out['inputs'].dtype == torch.uint8
    sample = out['data_samples']
    assert sample.gt_depth_map.data.shape == (1, 4, 4)
    assert torch.all(sample.gt_depth_map.data == 2.0)
    assert torch.all(sample.gt_sem_seg.data == 2)
