"""Bad inputs that the loaders and the dataset checker must name clearly:
grey+alpha normal maps, partial NaN depth, unwritable --json paths,
non-positive --limit, non-UTF-8 split files, symbolic link loops."""
import functools
import os
import os.path as osp
import struct
import zlib

import numpy as np
import pytest

from trttt_mm.datasets import DataFormatError
from trttt_mm.datasets.check import check_dataset
from trttt_mm.datasets.decoders import (decode_color_png, png_color_type,
                                        read_bytes)
from trttt_mm.datasets.paths import NOT_FOUND, path_problem
from trttt_mm.datasets.transforms import LoadMultiTaskAnnotations
from fixtures_nyud import H, W, Dataset, make_nyud
from tool_helpers import load_tool

NYUD = dict(type='NYUDv2MultiTaskDataset', split='train')


@functools.lru_cache(maxsize=None)
def cli():
    return load_tool('data/check_dataset')


def png_bytes(arr: np.ndarray, color_type: int) -> bytes:
    """A minimal 8-bit PNG (no filter) of ``arr`` (H, W, C) with the given
    colour type, written by hand so that the test controls the header."""
    h, w = arr.shape[:2]
    raw = b''.join(b'\x00' + arr[r].tobytes() for r in range(h))

    def chunk(tag, data):
        return (struct.pack('>I', len(data)) + tag + data +
                struct.pack('>I', zlib.crc32(tag + data) & 0xffffffff))

    ihdr = struct.pack('>IIBBBBB', w, h, 8, color_type, 0, 0, 0)
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) +
            chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))


def snapshot(root):
    """Modification times of everything under ``root`` (links not
    followed)."""
    out = {}
    for dirpath, dirnames, names in os.walk(root):
        for n in dirnames + names:
            p = osp.join(dirpath, n)
            out[osp.relpath(p, root)] = os.lstat(p).st_mtime_ns
    return out


@pytest.fixture
def nyud(tmp_path):
    return make_nyud(tmp_path / 'NYUDv2')


# ---------------------------------------------------------------- normals
def test_grey_alpha_normal_png_is_rejected(nyud):
    grey_alpha = np.full((H, W, 2), 200, np.uint8)
    content = png_bytes(grey_alpha, 4)
    assert png_color_type(content) == 4
    path = osp.join(nyud, 'normals', '0000.png')
    with open(path, 'wb') as f:
        f.write(content)
    # OpenCV reads it as 4 channels; the header says grey+alpha
    with pytest.raises(DataFormatError,
                       match=r'0000\.png.*greyscale\+alpha PNG.*3-channel'):
        decode_color_png(content, path, 'normal', 8)
    ds = Dataset(nyud, tasks=('normal', ), pipeline=[
        dict(type='LoadMultiTaskAnnotations')])
    with pytest.raises(DataFormatError, match=r'normals.*0000\.png.*grey'):
        ds[0]
    report = check_dataset(dict(NYUD, data_root=nyud, tasks=('normal', )))
    assert not report.ok
    assert [k for k, _ in report.problems] == ['encoding']
    assert 'greyscale+alpha' in report.problems[0][1]
    # a true RGB PNG written the same way is fine
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[..., 2] = 255
    with open(path, 'wb') as f:
        f.write(png_bytes(rgb, 2))
    assert ds[0]['gt_normal_map'].shape == (H, W, 3)


# ---------------------------------------------------------------- depth
def test_partial_nan_depth_is_reported(nyud):
    depth = np.full((H, W), 2.0, np.float32)
    depth[0, :3] = np.nan
    np.save(osp.join(nyud, 'depth', '0001.npy'), depth)
    report = check_dataset(dict(NYUD, data_root=nyud, tasks=('depth', )))
    text = '\n'.join(report.warnings)
    assert "0001.npy" in text and '3 of 24 pixels are NaN or infinite' in \
        text
    # the fixture's 0000.npy has one NaN, one inf and one negative pixel
    assert '0000.npy' in text and '1 of 24 pixels are negative' in text
    assert report.ok  # read as invalid: a warning, not a failure


# ---------------------------------------------------------------- checker CLI
def test_json_path_is_checked_before_the_walk(nyud, tmp_path, capsys):
    missing = str(tmp_path / 'missing' / 'dir' / 'x.json')
    assert cli().main([nyud, '--json', missing, '--quiet']) == 2
    out, err = capsys.readouterr()
    assert "'" + str(tmp_path / 'missing' / 'dir') + "'" in err
    assert 'does not exist' in err
    assert '==' not in out  # nothing was walked
    assert cli().main([nyud, '--json', str(tmp_path), '--quiet']) == 2
    assert 'is a folder' in capsys.readouterr().err
    good = tmp_path / 'r.json'
    assert cli().main([nyud, '--json', str(good), '--quiet']) == 0
    assert good.is_file()


@pytest.mark.parametrize('value', ['-3', '0', 'x'])
def test_limit_must_be_positive(nyud, value, capsys):
    with pytest.raises(SystemExit) as exc:
        cli().main([nyud, '--limit', value, '--quiet'])
    assert exc.value.code == 2
    assert 'expected a positive integer' in capsys.readouterr().err
    with pytest.raises(ValueError, match='positive integer'):
        check_dataset(dict(NYUD, data_root=nyud), limit=0)
    assert check_dataset(dict(NYUD, data_root=nyud), limit=1).checked == 1


# ---------------------------------------------------------------- split files
def test_latin1_split_file_names_the_file(nyud):
    path = osp.join(nyud, 'gt_sets', 'train.txt')
    with open(path, 'wb') as f:
        f.write('0000\n0001\n# caf\xe9\n'.encode('latin-1'))
    with pytest.raises(DataFormatError) as err:
        Dataset(nyud, split='train')
    msg = str(err.value)
    assert path in msg and 'UTF-8' in msg and 'line 3' in msg
    report = check_dataset(dict(NYUD, data_root=nyud))
    assert [k for k, _ in report.problems] == ['listing']
    assert path in report.problems[0][1] and 'UTF-8' in report.problems[0][1]
    # a UTF-8 file with a byte-order mark is fine
    with open(path, 'wb') as f:
        f.write('\ufeff0000\n0001\n'.encode('utf-8'))
    assert len(Dataset(nyud, split='train')) == 2


# ---------------------------------------------------------------- links
def test_path_problem_names_the_cause(tmp_path):
    assert path_problem(str(tmp_path / 'none')) == NOT_FOUND
    assert 'is a folder' in path_problem(str(tmp_path))
    assert 'is a file' in path_problem(__file__, expect='folder')
    assert path_problem(__file__) is None
    loop = tmp_path / 'loop'
    os.symlink(str(loop), str(loop))
    assert 'symbolic link loop' in path_problem(str(loop))
    assert 'symbolic link loop' in path_problem(str(loop / 'a.png'))
    broken = tmp_path / 'broken'
    os.symlink(str(tmp_path / 'nowhere'), str(broken))
    assert 'broken symbolic link' in path_problem(str(broken))
    assert 'broken symbolic link' in path_problem(str(broken / 'a.png'))
    with pytest.raises(FileNotFoundError, match='symbolic link loop'):
        read_bytes(str(loop), 'image')


def test_symlink_loop_is_reported_as_a_loop(nyud):
    img = osp.join(nyud, 'images', '0001.png')
    os.remove(img)
    os.symlink(img, img)  # points to itself
    with pytest.raises(FileNotFoundError) as err:
        Dataset(nyud, split='train')
    assert '0001.png' in str(err.value)
    assert 'symbolic link loop' in str(err.value)
    assert 'not found' not in str(err.value)
    before = snapshot(nyud)
    report = check_dataset(dict(NYUD, data_root=nyud))
    assert not report.missing  # not a missing file ...
    assert [k for k, _ in report.problems] == ['unreadable']
    assert 'symbolic link loop' in report.problems[0][1]  # ... but a loop
    assert '0001.png' in report.problems[0][1]
    assert snapshot(nyud) == before
    # the loader says the same
    with pytest.raises(FileNotFoundError, match='symbolic link loop'):
        LoadMultiTaskAnnotations(tasks=('depth', ))(
            dict(depth_path=img, tasks=('depth', ), decode_cfg={}))


def test_data_root_loop_and_checker_target_loop(tmp_path, capsys):
    root = tmp_path / 'NYUDv2'
    os.symlink(str(root), str(root))
    with pytest.raises(FileNotFoundError, match='symbolic link loop'):
        Dataset(str(root), split='train')
    assert cli().main([str(root), '--quiet']) == 2
    assert 'symbolic link loop' in capsys.readouterr().err


# ---------------------------------------------------------------- corrupt
def test_truncated_files_name_the_file(nyud):
    seg = osp.join(nyud, 'segmentation', '0000.png')
    with open(seg, 'rb') as f:
        content = f.read()
    with open(seg, 'wb') as f:
        f.write(content[:len(content) // 2])
    depth = osp.join(nyud, 'depth', '0001.npy')
    with open(depth, 'rb') as f:
        content = f.read()
    with open(depth, 'wb') as f:
        f.write(content[:len(content) - 20])
    ds = Dataset(nyud, tasks=('semseg', 'depth'), pipeline=[
        dict(type='LoadMultiTaskAnnotations')])
    with pytest.raises(DataFormatError, match=r'segmentation.*0000\.png'):
        ds[0]
    with pytest.raises(DataFormatError, match=r'0001\.npy.*\.npy array'):
        ds[1]
    report = check_dataset(dict(NYUD, data_root=nyud,
                                tasks=('semseg', 'depth')))
    text = '\n'.join(m for _, m in report.problems)
    assert '0000.png' in text and '0001.npy' in text
    # pickled object arrays are refused, not unpickled
    np.save(depth, np.array([{'a': 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataFormatError, match=r'0001\.npy'):
        ds[1]
