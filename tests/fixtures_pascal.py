"""Fixture files in the pascal_context layout, shared by the dataset tests."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
from scipy.io import loadmat, savemat

from trttt_mm.datasets import (PASCAL_CONTEXT_NORMALS_VALID_IDS,
                               DataFormatError, EdgeCache,
                               PascalContextMultiTaskDataset, label_map_edges,
                               thin)
from trttt_mm.datasets.label_edges import label_boundaries

H, W = 6, 7
LOAD = [
    dict(type='LoadMultiTaskImageFromFile'),
    dict(type='LoadMultiTaskAnnotations'),
]
WALL, CHAIR_CTX, UNLISTED = 440, 72, 2  # LabelMap ids (2: no normals)
# The label map below: wall on columns 0..2, an unlisted class on 3..6.
EDGES_OF_LABEL_MAP = np.array([
    [0, 0, 0, 0, 0, 0, 0],
    [0, 0, 1, 0, 0, 0, 0],
    [0, 0, 1, 0, 0, 0, 0],
    [0, 0, 1, 0, 0, 0, 0],
    [0, 0, 1, 0, 0, 0, 0],
    [0, 0, 1, 0, 0, 0, 0],
], dtype=np.float32)


def Dataset(*args, **kwargs):
    kwargs.setdefault('serialize_data', False)
    kwargs.setdefault('edge_cache_dir', None)
    return PascalContextMultiTaskDataset(*args, **kwargs)


def label_map():
    lm = np.full((H, W), WALL, np.uint16)
    lm[:, 3:] = UNLISTED
    return lm


def voc_seg():
    seg = np.zeros((H, W), np.uint8)  # background
    seg[0, :6] = (9, 11, 20, 255, 15, 18)  # chair table tv void person sofa
    return seg


def make_pascal(root, ids=('2008_000001', '2008_000002'), split='train'):
    """First id: semseg in VOC12; the others: only in pascal-context."""
    for sub in ('JPEGImages', 'ImageSets/Context', 'semseg/VOC12',
                'semseg/pascal-context', 'normals_distill',
                'pascal-context/trainval'):
        os.makedirs(osp.join(root, sub), exist_ok=True)
    rng = np.random.RandomState(0)
    normal_bgr = np.zeros((H, W, 3), np.uint8)
    normal_bgr[...] = (255, 128, 128)  # RGB (128, 128, 255): +z
    for k, img_id in enumerate(ids):
        cv2.imwrite(osp.join(root, 'JPEGImages', img_id + '.jpg'),
                    rng.randint(0, 256, (H, W, 3), dtype=np.uint8))
        folder = 'semseg/VOC12' if k == 0 else 'semseg/pascal-context'
        cv2.imwrite(osp.join(root, folder, img_id + '.png'), voc_seg())
        cv2.imwrite(osp.join(root, 'normals_distill', img_id + '.png'),
                    normal_bgr)
        savemat(osp.join(root, 'pascal-context', 'trainval', img_id + '.mat'),
                {'LabelMap': label_map()})
    with open(osp.join(root, 'ImageSets', 'Context', f'{split}.txt'),
              'w') as f:
        f.write('\n'.join(ids) + '\n')
    return str(root)


def snapshot(root):
    out = {}
    for dirpath, dirnames, names in os.walk(root):
        for n in dirnames + names:
            p = osp.join(dirpath, n)
            out[osp.relpath(p, root)] = os.stat(p).st_mtime_ns
    return out
