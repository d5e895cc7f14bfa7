"""Fixture files in the nyudv2 layout, shared by the dataset tests."""
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from trttt_mm.datasets import DataFormatError, NYUDv2MultiTaskDataset

H, W = 4, 6
LOAD = [
    dict(type='LoadMultiTaskImageFromFile'),
    dict(type='LoadMultiTaskAnnotations'),
]


def Dataset(*args, **kwargs):
    """The dataset; no serialisation by default (its gc.collect is slow)."""
    kwargs.setdefault('serialize_data', False)
    return NYUDv2MultiTaskDataset(*args, **kwargs)


def encode_normals(vec):
    """(H, W, 3) xyz in [-1, 1] -> BGR uint8 as written by cv2."""
    rgb = np.round((vec + 1) / 2 * 255).astype(np.uint8)
    return rgb[..., ::-1]


def known_maps():
    """Ground truth with known values for one sample."""
    depth = np.full((H, W), 2.5, np.float32)
    depth[0, 0] = np.nan
    depth[0, 1] = np.inf
    depth[0, 2] = -1.0
    depth[0, 3] = 0.0
    seg = np.full((H, W), 1, np.uint8)  # wall
    seg[1, 0] = 0  # unlabelled
    seg[1, 1] = 24  # refrigerator
    seg[1, 2] = 5  # chair
    seg[1, 3] = 40  # otherprop
    normal = np.zeros((H, W, 3), np.float32)
    normal[..., 2] = 1.0  # facing the camera
    normal[2, 0] = (1.0, 0.0, 0.0)
    normal_bgr = encode_normals(normal)
    normal_bgr[2, 1] = (0, 0, 0)  # black: not a normal
    normal_bgr[2, 2] = (128, 128, 128)  # omnidata-style mask value
    edge = np.zeros((H, W), np.uint8)
    edge[3, :] = 255
    return depth, seg, normal_bgr, edge


def make_nyud(root, ids=('0000', '0001'), split='train', img_ext='.png'):
    depth, seg, normal_bgr, edge = known_maps()
    for sub in ('images', 'depth', 'normals', 'segmentation', 'edge',
                'gt_sets'):
        os.makedirs(osp.join(root, sub), exist_ok=True)
    rng = np.random.RandomState(0)
    for img_id in ids:
        img = rng.randint(0, 256, (H, W, 3), dtype=np.uint8)
        cv2.imwrite(osp.join(root, 'images', img_id + img_ext), img)
        np.save(osp.join(root, 'depth', img_id + '.npy'), depth)
        cv2.imwrite(osp.join(root, 'normals', img_id + '.png'), normal_bgr)
        cv2.imwrite(osp.join(root, 'segmentation', img_id + '.png'), seg)
        cv2.imwrite(osp.join(root, 'edge', img_id + '.png'), edge)
    with open(osp.join(root, 'gt_sets', f'{split}.txt'), 'w') as f:
        f.write('\n'.join(ids) + '\n')
    return str(root)
