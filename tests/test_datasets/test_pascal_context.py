"""PascalContextMultiTaskDataset on hand-made files in the PASCAL_MT layout."""
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

from fixtures_pascal import (  # noqa: F401
    H,
    W,
    LOAD,
    WALL,
    CHAIR_CTX,
    UNLISTED,
    EDGES_OF_LABEL_MAP,
    Dataset,
    label_map,
    voc_seg,
    make_pascal,
    snapshot)


@pytest.fixture
def voc_root(tmp_path):
    return make_pascal(tmp_path / 'PASCAL_MT')


# --------------------------------------------------------------- edges
def test_thin_known_cases():
    bar = np.zeros((7, 9), bool)
    bar[2:5, 1:8] = True
    expected = np.zeros_like(bar)
    expected[3, 2:7] = True
    np.testing.assert_array_equal(thin(bar), expected)
    line = np.eye(5, dtype=bool)
    np.testing.assert_array_equal(thin(line), line)  # already thin
    assert not thin(np.zeros((3, 3))).any()
    block = np.full((8, 8), WALL, np.uint16)
    block[2:6, 3:7] = CHAIR_CTX
    ring = np.array([[0, 0, 0, 0, 0, 0, 0, 0],
                     [0, 0, 0, 0, 0, 0, 0, 0],
                     [0, 0, 0, 1, 1, 1, 0, 0],
                     [0, 0, 1, 0, 0, 0, 1, 0],
                     [0, 0, 1, 0, 0, 0, 1, 0],
                     [0, 0, 0, 1, 0, 0, 1, 0],
                     [0, 0, 0, 0, 1, 1, 0, 0],
                     [0, 0, 0, 0, 0, 0, 0, 0]], bool)
    # a closed one-pixel contour around the block, inside the 2-px band
    edges = label_map_edges(block)
    np.testing.assert_array_equal(edges, ring)
    assert not (edges & ~label_boundaries(block)).any()
    np.testing.assert_array_equal(label_map_edges(label_map()),
                                  EDGES_OF_LABEL_MAP.astype(bool))


def test_edge_cache_memory_and_disk(tmp_path):
    src = tmp_path / 'x.mat'
    savemat(str(src), {'LabelMap': label_map()})
    calls = []

    def compute():
        calls.append(1)
        return label_map_edges(label_map())

    cache = EdgeCache(max_items=4, cache_dir=str(tmp_path / 'cache'))
    a = cache.get(str(src), compute)
    b = cache.get(str(src), compute)
    np.testing.assert_array_equal(a, b)
    assert len(calls) == 1 and cache.hits == 1
    fresh = EdgeCache(max_items=4, cache_dir=str(tmp_path / 'cache'))
    np.testing.assert_array_equal(fresh.get(str(src), compute), a)
    assert len(calls) == 1 and fresh.disk_hits == 1
    # an edited file is a new entry
    os.utime(str(src), ns=(1, 1))
    fresh.get(str(src), compute)
    assert len(calls) == 2
    # LRU bound
    small = EdgeCache(max_items=1)
    other = tmp_path / 'y.mat'
    savemat(str(other), {'LabelMap': label_map()})
    small.get(str(src), compute)
    small.get(str(other), compute)
    assert len(small) == 1


# --------------------------------------------------------------- dataset
def test_lists_samples(voc_root):
    ds = Dataset(voc_root, split='train', serialize_data=True)
    assert len(ds) == 2
    info = ds.get_data_info(0)
    assert info['img_path'] == osp.join(voc_root, 'JPEGImages',
                                        '2008_000001.jpg')
    assert info['seg_map_path'].endswith(
        osp.join('semseg', 'VOC12', '2008_000001.png'))
    assert ds.get_data_info(1)['seg_map_path'].endswith(
        osp.join('semseg', 'pascal-context', '2008_000002.png'))
    mat = osp.join(voc_root, 'pascal-context', 'trainval',
                   '2008_000001.mat')
    assert info['edge_path'] == mat and info['label_map_path'] == mat
    assert info['normal_path'].endswith(
        osp.join('normals_distill', '2008_000001.png'))
    assert info['tasks'] == ('semseg', 'normal', 'edge')
    assert info['decode_cfg']['semseg'] == dict(
        label_set='pascal', class_map=None)
    assert ds.metainfo['classes'][0] == 'background'
    assert len(ds.metainfo['classes']) == 21


@pytest.mark.parametrize('class_map,row', [
    (None, [9, 11, 20, 255, 15, 18, 0]),
    ('t2p', [5, 0, 1, 255, 255, 3, 255]),
    ('p2t', [5, 0, 1, 255, 255, 3, 255]),
])
def test_loads_known_values(voc_root, class_map, row):
    ds = Dataset(voc_root, class_map=class_map, pipeline=LOAD)
    for idx in (0, 1):  # VOC12 and pascal-context semseg files
        res = ds[idx]
        assert res['img'].shape == (H, W, 3)
        seg = res['gt_seg_map']
        assert seg.dtype == np.uint8 and seg[0].tolist() == row
        normal = res['gt_normal_map']
        assert normal.dtype == np.float32 and normal.shape == (H, W, 3)
        # kept on the wall (a listed class), zero on the unlisted class
        np.testing.assert_allclose(normal[:, :3], np.broadcast_to(
            (0, 0, 1), (H, 3, 3)), atol=0.01)
        assert not normal[:, 3:].any()
        edge = res['gt_edge_map']
        assert edge.dtype == np.float32
        np.testing.assert_array_equal(edge, EDGES_OF_LABEL_MAP)
    if class_map is not None:
        assert ds.metainfo['classes'] == ('table', 'tv', 'bottle', 'sofa',
                                          'potted plant', 'chair')


def test_valid_classes_constant():
    assert len(PASCAL_CONTEXT_NORMALS_VALID_IDS) == 170
    assert WALL in PASCAL_CONTEXT_NORMALS_VALID_IDS
    assert UNLISTED not in PASCAL_CONTEXT_NORMALS_VALID_IDS
    fact = osp.join(osp.dirname(__file__), '..', '..', '..', 'shared',
                    'data', 'pascal_context_normals_valid_classes.json')
    if osp.isfile(fact):  # the fact list beside DESIGN.md, when present
        with open(fact) as f:
            assert list(PASCAL_CONTEXT_NORMALS_VALID_IDS) == json.load(
                f)['valid_ids']


def test_edge_cache_on_disk_never_in_data_root(voc_root, tmp_path):
    before = snapshot(voc_root)
    cache_dir = tmp_path / 'edge_cache'
    ds = Dataset(voc_root, tasks=('edge', ), edge_cache_dir=str(cache_dir),
                 pipeline=LOAD)
    np.testing.assert_array_equal(ds[0]['gt_edge_map'], EDGES_OF_LABEL_MAP)
    ds[1]
    cached = [n for _, _, ns in os.walk(cache_dir) for n in ns]
    assert len(cached) == 2 and all(n.endswith('.png') for n in cached)
    assert snapshot(voc_root) == before
    with pytest.raises(ValueError, match='inside the dataset folder'):
        Dataset(voc_root, edge_cache_dir=osp.join(voc_root, 'cache'))


def test_depth_and_bad_class_map_rejected(voc_root):
    with pytest.raises(ValueError, match='no depth'):
        Dataset(voc_root, tasks=('semseg', 'depth'))
    with pytest.raises(ValueError, match=r"'t2x'"):
        Dataset(voc_root, class_map='t2x')
    with pytest.raises(ValueError, match=r"'t2n'.*'pascal'"):
        Dataset(voc_root, class_map='t2n')


def test_missing_files_named(voc_root):
    os.remove(osp.join(voc_root, 'JPEGImages', '2008_000002.jpg'))
    with pytest.raises(FileNotFoundError,
                       match=r'image.*JPEGImages.*2008_000002\.jpg'):
        Dataset(voc_root)
    make_pascal(voc_root)
    os.remove(osp.join(voc_root, 'semseg', 'pascal-context',
                       '2008_000002.png'))
    with pytest.raises(FileNotFoundError,
                       match=r'VOC12.*2008_000002\.png.*pascal-context'):
        Dataset(voc_root)
    assert len(Dataset(voc_root, tasks=('normal', 'edge'))) == 2
    os.remove(osp.join(voc_root, 'pascal-context', 'trainval',
                       '2008_000001.mat'))
    with pytest.raises(FileNotFoundError, match=r'2008_000001\.mat'):
        Dataset(voc_root, tasks=('edge', ))
    assert len(Dataset(voc_root, tasks=('semseg', ), check_files=False)) == 2
    with pytest.raises(FileNotFoundError, match=r'Context.*val\.txt'):
        Dataset(voc_root, split='val')


def test_bad_files_raise_naming_them(voc_root):
    mat = osp.join(voc_root, 'pascal-context', 'trainval', '2008_000001.mat')
    savemat(mat, {'Labels': label_map()})
    ds = Dataset(voc_root, tasks=('edge', ), pipeline=LOAD)
    with pytest.raises(DataFormatError,
                       match=r"2008_000001\.mat.*no variable 'LabelMap'"):
        ds[0]
    ds = Dataset(voc_root, tasks=('normal', ), pipeline=LOAD)
    with pytest.raises(DataFormatError, match=r"'LabelMap'"):
        ds[0]
    with open(mat, 'wb') as f:
        f.write(b'not a mat file')
    with pytest.raises(DataFormatError, match=r'2008_000001\.mat.*\.mat'):
        Dataset(voc_root, tasks=('edge', ), pipeline=LOAD)[0]
    # a label map of another size than the normals
    savemat(mat, {'LabelMap': np.zeros((H + 1, W), np.uint16)})
    with pytest.raises(DataFormatError, match=r'normals_distill.*6x7.*7x7'):
        Dataset(voc_root, tasks=('normal', ), pipeline=LOAD)[0]
    seg = voc_seg()
    seg[1, 1] = 30
    cv2.imwrite(osp.join(voc_root, 'semseg', 'pascal-context',
                         '2008_000002.png'), seg)
    ds = Dataset(voc_root, tasks=('semseg', ), pipeline=LOAD)
    with pytest.raises(DataFormatError,
                       match=r'2008_000002\.png.*\[30\].*0\.\.20, 255'):
        ds[1]


def test_synthetic_pascal_loads_end_to_end(tmp_path):
    from mmseg.registry import DATASETS

    from trttt_mm.datasets.synthetic import generate_benchmark
    out = tmp_path / 'synth'
    generate_benchmark(
        str(out), layouts=('pascal', ), num_target_train=2,
        num_target_val=2, height=32, width=40, progress=False)
    root = str(out / 'PASCAL_MT')
    before = snapshot(root)
    ds = DATASETS.build(
        dict(
            type='PascalContextMultiTaskDataset',
            data_root=root,
            split='val',
            class_map='t2p',
            edge_cache_dir=str(tmp_path / 'cache'),
            pipeline=LOAD + [dict(type='PackMultiTaskInputs')]))
    assert len(ds) == 2
    for i in range(2):
        sample = ds[i]['data_samples']
        seg = sample.gt_sem_seg.data
        assert seg.shape == (1, 32, 40)
        # the generator writes VOC chair / table / sofa only
        assert set(seg.unique().tolist()) <= {0, 3, 5, 255}
        nrm = sample.gt_normal_map.data
        valid = (nrm.abs().sum(0) > 0).numpy()
        labels = loadmat(ds.get_data_info(i)['label_map_path'])['LabelMap']
        listed = np.isin(labels, PASCAL_CONTEXT_NORMALS_VALID_IDS)
        np.testing.assert_array_equal(valid, listed)  # 0 = refrigerator
        assert ((nrm.norm(dim=0)[valid] - 1).abs() < 1e-4).all()
        edge = sample.gt_edge_map.data
        assert set(edge.unique().tolist()) == {0.0, 1.0}
    assert snapshot(root) == before
