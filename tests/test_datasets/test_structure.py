"""Where things live: each dataset class recognises its own layout, the
checker asks them, the file decoders have their own module, scene sampling
and ray casting are separate steps."""
import inspect
import os

import numpy as np
import pytest

from trttt_mm.datasets import (NYUDv2MultiTaskDataset,
                               PascalContextMultiTaskDataset,
                               TaskonomyMultiTaskDataset, check, decoders)
from trttt_mm.datasets.transforms import loading
from fixtures_nyud import make_nyud
from fixtures_pascal import make_pascal
from fixtures_taskonomy import make_taskonomy

CLASSES = dict(
    nyudv2=NYUDv2MultiTaskDataset,
    pascal=PascalContextMultiTaskDataset,
    taskonomy=TaskonomyMultiTaskDataset)


@pytest.fixture
def roots(tmp_path):
    return dict(
        nyudv2=make_nyud(tmp_path / 'NYUDv2'),
        taskonomy=make_taskonomy(tmp_path / 'taskonomy'),
        pascal=make_pascal(tmp_path / 'PASCAL_MT'))


def test_each_dataset_class_recognises_only_its_layout(roots, tmp_path):
    for layout, root in roots.items():
        for other, cls in CLASSES.items():
            assert cls.looks_like(root) == (other == layout), (layout, other)
        assert check.detect_root_layout(root) == layout
    for cls in CLASSES.values():
        assert not cls.looks_like(str(tmp_path / 'none'))
        assert not cls.looks_like(str(tmp_path))


def test_available_splits(roots, tmp_path):
    assert NYUDv2MultiTaskDataset.available_splits(roots['nyudv2']) == [
        'train'
    ]
    make_nyud(roots['nyudv2'], ids=('0002', ), split='val')
    assert NYUDv2MultiTaskDataset.available_splits(roots['nyudv2']) == [
        'train', 'val'
    ]
    assert PascalContextMultiTaskDataset.available_splits(
        roots['pascal']) == ['train']
    assert TaskonomyMultiTaskDataset.available_splits(
        roots['taskonomy']) == ['train']
    # Taskonomy without split files: every building
    os.remove(os.path.join(roots['taskonomy'], 'splits', 'train.txt'))
    assert TaskonomyMultiTaskDataset.available_splits(
        roots['taskonomy']) == ['all']
    assert NYUDv2MultiTaskDataset.available_splits(str(tmp_path)) == []
    # every name is accepted by the constructor
    ds = NYUDv2MultiTaskDataset(roots['nyudv2'], split='val',
                                serialize_data=False)
    assert len(ds) == 1


def test_checker_asks_the_dataset_classes(monkeypatch, roots):
    assert not hasattr(check, '_split_names')
    assert list(check.DATASET_CLASSES.values()) == [
        NYUDv2MultiTaskDataset, PascalContextMultiTaskDataset,
        TaskonomyMultiTaskDataset
    ]
    monkeypatch.setattr(NYUDv2MultiTaskDataset, 'available_splits',
                        classmethod(lambda cls, root: ['x', 'y']))
    cfgs = check.dataset_cfgs_from_root(roots['nyudv2'])
    assert [c['split'] for _, c in cfgs] == ['x', 'y']


def test_decoders_have_their_own_module():
    for name in ('read_bytes', 'decode_png', 'decode_color_png', 'load_npy',
                 'single_channel', 'load_label_map'):
        assert inspect.getmodule(getattr(decoders, name)) is decoders
    # loading.py uses (and still exposes) the same functions
    for name in ('read_bytes', 'decode_png', 'load_npy', 'single_channel',
                 'load_label_map'):
        assert getattr(loading, name) is getattr(decoders, name)
    assert 'def decode_png' not in inspect.getsource(loading)
    assert check.load_npy is decoders.load_npy


def test_scene_sampling_and_ray_casting_are_separate():
    from trttt_mm.datasets.synthetic import raycast, sampling, scene
    assert scene.sample_scene is sampling.sample_scene
    assert scene.render_geometry is raycast.render_geometry
    # sampling draws everything; ray casting draws nothing
    assert 'render' not in ''.join(dir(sampling)).lower()
    assert 'rng' not in inspect.getsource(raycast)
    s = sampling.sample_scene(np.random.default_rng(3), 24, 32)
    a = raycast.render_geometry(s)
    b = raycast.render_geometry(s)
    for f in ('depth', 'normal', 'cls', 'edge'):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    assert raycast.ray_directions(s.camera).shape == (24 * 32, 3)
