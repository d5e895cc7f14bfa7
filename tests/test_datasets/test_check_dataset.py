"""The dataset checker (library: trttt_mm/datasets/check.py, command line:
tools/data/check_dataset.py) finds planted problems, passes clean copies and
never writes into them."""
import functools
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
from scipy.io import savemat

from trttt_mm.datasets import check as check_lib
from trttt_mm.datasets.check import (check_dataset, dataset_cfgs_from_root,
                                     detect_root_layout, format_report)
from fixtures_nyud import H as NH
from fixtures_nyud import W as NW
from fixtures_nyud import make_nyud
from fixtures_pascal import make_pascal, snapshot
from fixtures_taskonomy import make_taskonomy, view_path
from tool_helpers import load_tool

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))


@functools.lru_cache(maxsize=None)
def load_cli():
    """tools/data/check_dataset.py as a module (the command line)."""
    return load_tool('data/check_dataset')


def main(argv):
    return load_cli().main(argv)


@pytest.fixture
def roots(tmp_path):
    return dict(
        nyudv2=make_nyud(tmp_path / 'NYUDv2'),
        taskonomy=make_taskonomy(tmp_path / 'taskonomy'),
        pascal=make_pascal(tmp_path / 'PASCAL_MT'))


def kinds(report):
    return {k for k, _ in report.problems}


def messages(report):
    return '\n'.join(m for _, m in report.problems)


def test_detect_root_layout(roots, tmp_path):
    for layout, root in roots.items():
        assert detect_root_layout(root) == layout
    # the parent folder is none of them (taskonomy/rgb holds no views)
    with pytest.raises(FileNotFoundError, match='could not tell'):
        detect_root_layout(str(tmp_path))
    cfgs = dataset_cfgs_from_root(roots['taskonomy'], class_map='t2n')
    assert [c['split'] for _, c in cfgs] == ['train']
    assert cfgs[0][1]['type'] == 'TaskonomyMultiTaskDataset'


def test_clean_copies_pass_and_are_not_written(roots, capsys):
    before = {k: snapshot(r) for k, r in roots.items()}
    for layout, root in roots.items():
        cm = 't2p' if layout == 'pascal' else 't2n'
        assert main([root, '--class-map', cm, '--quiet']) == 0, layout
    out = capsys.readouterr().out
    assert out.count('status: OK') == 3 and 'FAILED' not in out
    assert 'missing files per task: none' in out
    assert 'package: atrc' in out and 'layout: omnidata' in out
    # the class histogram after remapping (NYUD fixture: 1 refrigerator px,
    # 1 chair px; the rest wall / unlabelled / otherprop -> ignored)
    assert 'refrigerator' in out and 'ignored (255)' in out
    assert {k: snapshot(r) for k, r in roots.items()} == before


def test_nyud_planted_problems(roots):
    root = roots['nyudv2']
    with open(osp.join(root, 'gt_sets', 'train.txt'), 'a') as f:
        f.write('0002\n0003\n')
    make_nyud(root, ids=('0002', '0003'), split='other')
    os.remove(osp.join(root, 'edge', '0002.png'))  # missing
    os.remove(osp.join(root, 'depth', '0003.npy'))  # missing
    np.save(osp.join(root, 'depth', '0001.npy'),
            np.full((NH, NW), 2500.0, np.float32))  # millimetres
    seg = np.full((NH, NW), 41, np.uint8)  # not an NYU-40 id
    cv2.imwrite(osp.join(root, 'segmentation', '0002.png'), seg)
    cv2.imwrite(osp.join(root, 'normals', '0000.png'),
                np.zeros((NH + 2, NW, 3), np.uint8))  # size mismatch
    before = snapshot(root)
    report = check_dataset(
        dict(type='NYUDv2MultiTaskDataset', data_root=root, split='train',
             class_map='t2n'))
    assert not report.ok and report.num_samples == 4
    assert kinds(report) == {'missing', 'range', 'encoding', 'size'}
    assert {t: len(p) for t, p in report.missing.items()} == dict(
        edge=1, depth=1)
    text = messages(report)
    assert 'edge: 1 file(s) missing' in text and '0002.png' in text
    assert '0001.npy' in text and 'millimetres' in text
    assert '0002.png' in text and '[41]' in text
    assert 'sample \'0000\'' in text and 'normal 6x6' in text
    assert 'image 4x6' in text
    full = format_report(report)
    assert '[missing] depth:' in full and '0003.npy' in full
    assert snapshot(root) == before


def test_taskonomy_planted_problems(roots):
    root = roots['taskonomy']
    cv2.imwrite(view_path(root, 'depth_zbuffer', 'ab', 0, 0),
                np.full((4, 5), 4, np.uint8))  # 8-bit depth
    os.remove(view_path(root, 'normal', 'cd', 2, 0))
    report = check_dataset(
        dict(type='TaskonomyMultiTaskDataset', data_root=root,
             split='train'))
    assert report.num_samples == 3
    assert kinds(report) == {'missing', 'encoding'}
    text = messages(report)
    assert 'domain_depth_zbuffer.png' in text
    assert 'expected a 16-bit PNG, got uint8' in text
    assert list(report.missing) == ['normal']
    assert report.missing['normal'][0].endswith(
        'point_2_view_0_domain_normal.png')


def test_pascal_planted_problems(roots):
    root = roots['pascal']
    savemat(osp.join(root, 'pascal-context', 'trainval', '2008_000002.mat'),
            {'Other': np.zeros((6, 7), np.uint16)})
    before = snapshot(root)
    report = check_dataset(
        dict(type='PascalContextMultiTaskDataset', data_root=root,
             split='train', class_map='t2p'))
    assert kinds(report) == {'encoding'}
    assert "2008_000002.mat" in messages(report)
    assert "no variable 'LabelMap'" in messages(report)
    assert report.class_names[0] == 'table'
    assert snapshot(root) == before


def test_bad_arguments_are_report_lines(roots, capsys):
    assert main([roots['nyudv2'], '--class-map', 'nope', '--quiet']) == 1
    out = capsys.readouterr().out
    assert "unknown class_map 'nope'" in out and 'FAILED' in out
    assert main([roots['pascal'], '--tasks', 'depth', '--quiet']) == 1
    assert 'no depth' in capsys.readouterr().out
    assert main([roots['nyudv2'], '--split', 'test', '--quiet']) == 1
    assert 'test.txt' in capsys.readouterr().out
    assert main([osp.join(roots['nyudv2'], 'missing'), '--quiet']) == 2


def test_config_mode_checks_every_loader(roots, tmp_path, capsys):
    out_json = tmp_path / 'report.json'
    argv = [
        osp.join(REPO, 'configs', 'trttt', 't2n.py'), '--quiet', '--json',
        str(out_json), '--cfg-options',
        f'train_dataloader.dataset.data_root={roots["taskonomy"]}',
        f'val_dataloader.dataset.data_root={roots["taskonomy"]}',
        'val_dataloader.dataset.split=train',
        f'test_dataloader.dataset.data_root={roots["nyudv2"]}',
        'test_dataloader.dataset.split=train'
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert 'train_dataloader, val_dataloader: TaskonomyMultiTaskDataset' in out
    assert 'test_dataloader: NYUDv2MultiTaskDataset' in out
    reports = json.loads(out_json.read_text())
    assert [r['num_samples'] for r in reports] == [3, 2]
    assert all(r['ok'] for r in reports)
    # the paper config's own data_root does not exist here: a problem line
    assert main([osp.join(REPO, 'configs', 'trttt', 't2p.py'), '--quiet',
                 '--cfg-options', 'train_dataloader.dataset.data_root='
                 + str(tmp_path / 'none')]) == 1
    out = capsys.readouterr().out
    assert '[listing]' in out and 'docs/datasets.md' in out


def test_cli_lives_in_tools_library_keeps_the_checks():
    """The command line is tools/data/check_dataset.py; the library module
    keeps only the checking functions."""
    mod = load_cli()
    assert callable(mod.main) and callable(mod.parse_args)
    assert not hasattr(check_lib, 'main')
    assert not hasattr(check_lib, 'parse_args')
    assert mod.check_dataset is check_dataset
