"""Fixture files in the taskonomy layout, shared by the dataset tests."""
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from trttt_mm.datasets import DataFormatError, TaskonomyMultiTaskDataset

H, W = 4, 5
LOAD = [
    dict(type='LoadMultiTaskImageFromFile'),
    dict(type='LoadMultiTaskAnnotations'),
]
DOMAINS = ('rgb', 'depth_zbuffer', 'normal', 'edge_occlusion',
           'segment_semantic')


def Dataset(*args, **kwargs):
    """The dataset; no serialisation by default (its gc.collect is slow)."""
    kwargs.setdefault('serialize_data', False)
    return TaskonomyMultiTaskDataset(*args, **kwargs)


def known_maps():
    depth = np.full((H, W), 1024, np.uint16)  # 2 m
    depth[0, 0] = 65535  # no depth
    depth[0, 1] = 256  # 0.5 m
    normal_rgb = np.full((H, W, 3), (128, 128, 255), np.uint8)  # +z
    normal_rgb[1, 0] = (0, 128, 128)  # -x
    normal_rgb[1, 1] = (128, 128, 128)  # omnidata mask value
    edge = np.zeros((H, W), np.uint16)
    edge[2, 0] = 1000  # under the default threshold (0.02 * 65535)
    edge[2, 1] = 5000
    edge[2, 2] = 65535
    seg = np.full((H, W), 1, np.uint8)  # background
    seg[3, 0] = 0  # uncertain
    seg[3, 1] = 14  # refrigerator
    seg[3, 2] = 9  # tv
    seg[3, 3] = 3  # chair
    seg[3, 4] = 17  # vase
    return dict(
        depth_zbuffer=depth,
        normal=normal_rgb[..., ::-1],
        edge_occlusion=edge,
        segment_semantic=seg)


def view_path(root, domain, building, point, view):
    return osp.join(root, domain, 'taskonomy', building,
                    f'point_{point}_view_{view}_domain_{domain}.png')


def make_taskonomy(root, buildings=dict(ab=((0, 0), ), cd=((10, 1),
                                                           (2, 0)))):
    maps = known_maps()
    rng = np.random.RandomState(0)
    for building, views in buildings.items():
        for domain in DOMAINS:
            os.makedirs(osp.join(root, domain, 'taskonomy', building),
                        exist_ok=True)
        for point, view in views:
            cv2.imwrite(
                view_path(root, 'rgb', building, point, view),
                rng.randint(0, 256, (H, W, 3), dtype=np.uint8))
            for domain, arr in maps.items():
                cv2.imwrite(
                    view_path(root, domain, building, point, view), arr)
    os.makedirs(osp.join(root, 'splits'), exist_ok=True)
    with open(osp.join(root, 'splits', 'train.txt'), 'w') as f:
        f.write('ab\n\ncd\n')
    return str(root)
