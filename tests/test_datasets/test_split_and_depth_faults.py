"""Two silent scoring faults the loaders refuse: an integer depth array in a
``.npy`` (millimetres read as metres) and a split that lists an entry twice
(its samples scored twice)."""
import os.path as osp

import numpy as np
import pytest

from trttt_mm.datasets import DataFormatError
from trttt_mm.datasets.base import check_unique_entries
from trttt_mm.datasets.check import check_dataset
import fixtures_nyud
import fixtures_pascal
import fixtures_taskonomy


# ------------------------------------------------------------ integer depth
@pytest.mark.parametrize('dtype', [np.int64, np.int32, np.uint16, np.uint8])
def test_integer_npy_depth_is_refused_naming_the_file(tmp_path, dtype):
    root = fixtures_nyud.make_nyud(str(tmp_path / 'NYUDv2'))
    path = osp.join(root, 'depth', '0001.npy')
    np.save(path, np.full((fixtures_nyud.H, fixtures_nyud.W), 200, dtype))
    ds = fixtures_nyud.Dataset(root, split='train',
                               pipeline=fixtures_nyud.LOAD)
    ds[0]  # float32 metres: read
    with pytest.raises(DataFormatError) as err:
        ds[1]
    msg = str(err.value)
    assert path in msg and np.dtype(dtype).name in msg
    assert 'in 200..200' in msg and 'expected float depth in metres' in msg
    # the checker reports the same file as a problem
    report = check_dataset(dict(type='NYUDv2MultiTaskDataset',
                                data_root=root, split='train'))
    assert not report.ok
    assert any(path in m and 'expected float depth' in m
               for _, m in report.problems)


def test_float_npy_depth_of_any_precision_is_read(tmp_path):
    root = fixtures_nyud.make_nyud(str(tmp_path / 'NYUDv2'))
    depth = np.full((fixtures_nyud.H, fixtures_nyud.W), 1.5, np.float16)
    np.save(osp.join(root, 'depth', '0001.npy'), depth)
    ds = fixtures_nyud.Dataset(root, split='train',
                               pipeline=fixtures_nyud.LOAD)
    out = ds[1]['gt_depth_map']
    assert out.dtype == np.float32 and np.all(out == 1.5)


def test_taskonomy_16_bit_png_depth_keeps_its_documented_scale(tmp_path):
    """Integer depth in a PNG with a stated scale (Taskonomy: v / 512, 65535
    = no depth) is read as before."""
    root = fixtures_taskonomy.make_taskonomy(str(tmp_path / 'taskonomy'))
    ds = fixtures_taskonomy.Dataset(root, split=['ab'],
                                    pipeline=fixtures_taskonomy.LOAD)
    depth = ds[0]['gt_depth_map']
    raw = fixtures_taskonomy.known_maps()['depth_zbuffer']
    expected = raw.astype(np.float32) / 512
    expected[raw == 65535] = 0
    assert np.array_equal(depth, expected)
    assert depth[0, 0] == 0 and depth[0, 1] == 0.5 and depth[1, 1] == 2.0


# ------------------------------------------------------------ duplicates
def test_duplicate_id_in_an_nyud_split_file_is_refused(tmp_path):
    root = fixtures_nyud.make_nyud(str(tmp_path / 'NYUDv2'))
    split = osp.join(root, 'gt_sets', 'train.txt')
    with open(split, 'w') as f:
        f.write('0000\n# a comment\n0001\n\n0000\n')
    with pytest.raises(DataFormatError) as err:
        fixtures_nyud.Dataset(root, split='train')
    msg = str(err.value)
    assert f'split file {split!r}' in msg
    assert "lists '0000' 2 times (lines 1, 5)" in msg
    # the dataset checker reports it as a problem (exit 1), not a warning
    report = check_dataset(dict(type='NYUDv2MultiTaskDataset',
                                data_root=root, split='train'))
    assert not report.ok
    assert any("'0000' 2 times" in m for _, m in report.problems)


def test_duplicate_id_in_a_pascal_split_file_is_refused(tmp_path):
    root = fixtures_pascal.make_pascal(str(tmp_path / 'PASCAL_MT'))
    split = osp.join(root, 'ImageSets', 'Context', 'train.txt')
    with open(split, 'a') as f:
        f.write('2008_000002\n2008_000001\n')
    with pytest.raises(DataFormatError,
                       match=r"train\.txt' lists '2008_000002' 2 times "
                       r'\(lines 2, 3\) \(2 entries are repeated in all\)'):
        fixtures_pascal.Dataset(root, split='train')


def test_duplicate_building_in_a_taskonomy_split_is_refused(tmp_path):
    root = fixtures_taskonomy.make_taskonomy(str(tmp_path / 'taskonomy'))
    split = osp.join(root, 'splits', 'train.txt')
    with open(split, 'a') as f:
        f.write('ab\n')
    with pytest.raises(DataFormatError,
                       match=r"train\.txt' lists 'ab' 2 times \(lines 1, 4\)"):
        fixtures_taskonomy.Dataset(root, split='train')
    with pytest.raises(DataFormatError,
                       match=r"split \['cd', 'ab', 'cd'\] lists 'cd' 2 "
                       r'times \(positions 0, 2\)'):
        fixtures_taskonomy.Dataset(root, split=['cd', 'ab', 'cd'])
    # each building once: every view listed once
    ds = fixtures_taskonomy.Dataset(root, split=['cd', 'ab'])
    ids = [ds.get_data_info(i)['img_id'] for i in range(len(ds))]
    assert len(ids) == len(set(ids)) == 3


def test_check_unique_entries():
    check_unique_entries(['a', 'b'], 'x')
    with pytest.raises(DataFormatError, match=r"x lists 'b' 3 times "
                       r'\(lines 2, 3, 9\); each entry must appear once'):
        check_unique_entries(['a', 'b', 'b', 'b'], 'x', [1, 2, 3, 9])
