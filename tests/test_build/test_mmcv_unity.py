"""tools/build/mmcv_unity.py on a fake mmcv source tree."""
import os
import os.path as osp

import pytest

from tool_helpers import load_tool


def _tree(root, front, kernels):
    src = osp.join(root, 'mmcv', 'ops', 'csrc', 'pytorch')
    os.makedirs(osp.join(src, 'cpu'))
    for name in front:
        with open(osp.join(src, name), 'w') as f:
            f.write(f'// {name}\n')
    for name in kernels:
        with open(osp.join(src, 'cpu', name), 'w') as f:
            f.write(f'// {name}\n')
    return src


KERNELS = ['nms.cpp', 'psamask.cpp', 'roi_align.cpp', 'bezier_align.cpp',
           'roi_align_rotated.cpp', 'rotated_feature_align.cpp', 'abc.cpp']


def test_every_source_is_included_once_and_clashes_are_apart(tmp_path):
    tool = load_tool('build/mmcv_unity')
    src = _tree(str(tmp_path), ['pybind.cpp', 'nms.cpp'], KERNELS)
    units = tool.prepare(str(tmp_path))
    included = [m for members in units.values() for m in members]
    assert sorted(included) == sorted(
        ['pybind.cpp', 'nms.cpp'] + ['cpu/' + k for k in KERNELS])
    # setup.py's globs now find only the units.
    assert sorted(f for f in os.listdir(src) if f.endswith('.cpp')) == [
        'trttt_unity.cpp']
    assert sorted(f for f in os.listdir(osp.join(src, 'cpu'))
                  if f.endswith('.cpp')) == [
        'trttt_unity_cpu.cpp', 'trttt_unity_cpu1.cpp', 'trttt_unity_cpu2.cpp']
    main = units['cpu/trttt_unity_cpu.cpp']
    assert main[-1] == 'cpu/psamask.cpp'  # its macros come last
    for clash in ('cpu/bezier_align.cpp', 'cpu/roi_align_rotated.cpp',
                  'cpu/rotated_feature_align.cpp'):
        assert clash not in main
    assert 'cpu/roi_align.cpp' in main
    # The includes resolve to the renamed files.
    for unit, members in units.items():
        text = open(osp.join(src, unit)).read()
        unit_dir = osp.dirname(osp.join(src, unit))
        for line in text.splitlines():
            if line.startswith('#include'):
                rel = line.split('"')[1]
                assert osp.isfile(osp.join(unit_dir, rel)), line
        assert text.count('#include') == len(members)


def test_refuses_a_prepared_tree_and_unknown_sources(tmp_path):
    tool = load_tool('build/mmcv_unity')
    _tree(str(tmp_path / 'a'), ['pybind.cpp'], KERNELS)
    tool.prepare(str(tmp_path / 'a'))
    with pytest.raises(SystemExit, match='already prepared'):
        tool.prepare(str(tmp_path / 'a'))
    _tree(str(tmp_path / 'b'), ['pybind.cpp'], ['nms.cpp'])
    with pytest.raises(SystemExit, match='TRTTT_MMCV_UNITY=0'):
        tool.prepare(str(tmp_path / 'b'))
    with pytest.raises(SystemExit, match='not found'):
        tool.prepare(str(tmp_path / 'missing'))
