import numpy as np
import pytest

from trttt_mm.datasets.class_maps import (NYUDV2_CLASSES, PASCAL_CLASSES,
                                          TASKONOMY_CLASSES, build_label_lut,
                                          class_names, known_label_values)

# Names of the same class in each label set (shared name -> native names).
SYNONYMS = {
    'refrigerator': {'refrigerator'},
    'table': {'table', 'dining table', 'diningtable'},
    'toilet': {'toilet'},
    'sofa': {'sofa', 'couch'},
    'bed': {'bed'},
    'sink': {'sink'},
    'chair': {'chair'},
    'tv': {'tv', 'tvmonitor'},
    'bottle': {'bottle'},
    'potted plant': {'potted plant', 'pottedplant'},
}


def _native_name(dataset, value):
    lut, names = build_label_lut(dataset)
    return names[lut[value]]


@pytest.mark.parametrize('class_map,datasets', [
    ('t2n', ('taskonomy', 'nyudv2')),
    ('t2p', ('taskonomy', 'pascal')),
])
def test_shared_classes_name_the_same_object(class_map, datasets):
    for dataset in datasets:
        lut, names = build_label_lut(dataset, class_map)
        assert lut.dtype == np.uint8 and lut.shape == (256, )
        mapped = np.flatnonzero(lut != 255)
        # every shared class is hit by exactly one file value
        assert sorted(lut[mapped].tolist()) == list(range(len(names)))
        for value in mapped:
            shared = names[lut[value]]
            assert _native_name(dataset, value) in SYNONYMS[shared]


def test_t2n_ids_from_the_design():
    lut_t, names = build_label_lut('taskonomy', 't2n')
    lut_n, names_n = build_label_lut('nyudv2', 't2n')
    assert names == names_n == ('refrigerator', 'table', 'toilet', 'sofa',
                                'bed', 'sink', 'chair')
    assert [lut_t[v] for v in (14, 7, 8, 4, 6, 13, 3)] == list(range(7))
    zero_based = (23, 6, 32, 5, 3, 33, 4)
    assert [lut_n[v + 1] for v in zero_based] == list(range(7))
    assert lut_n[0] == 255 and lut_n[1] == 255  # unlabelled, wall
    assert lut_t[0] == 255 and lut_t[1] == 255  # uncertain, background


def test_t2p_ids_from_the_design():
    lut_t, names = build_label_lut('taskonomy', 't2p')
    lut_p, _ = build_label_lut('pascal', 't2p')
    assert names == ('table', 'tv', 'bottle', 'sofa', 'potted plant',
                     'chair')
    assert [lut_t[v] for v in (7, 9, 2, 4, 5, 3)] == list(range(6))
    assert [lut_p[v] for v in (11, 20, 5, 18, 16, 9)] == list(range(6))
    assert lut_p[0] == 255 and lut_p[255] == 255


def test_native_label_sets():
    lut, names = build_label_lut('nyudv2')
    assert names == NYUDV2_CLASSES and len(names) == 40
    assert lut[0] == 255 and lut[1] == 0 and lut[40] == 39
    lut, names = build_label_lut('taskonomy', None)
    assert names == TASKONOMY_CLASSES and len(names) == 17
    assert lut[0] == 255 and lut[1] == 0 and lut[17] == 16
    assert names[lut[14]] == 'refrigerator'
    lut, names = build_label_lut('pascal')
    assert names == PASCAL_CLASSES and lut[0] == 0 and lut[20] == 20
    assert lut[255] == 255
    assert known_label_values('taskonomy').tolist() == list(range(18))
    assert 255 in known_label_values('pascal').tolist()


def test_aliases_and_read_only():
    assert class_names('nyudv2', 'n2t') == class_names('taskonomy', 't2n')
    assert class_names('pascal', 'p2t') == class_names('taskonomy', 't2p')
    lut, _ = build_label_lut('nyudv2', 't2n')
    with pytest.raises(ValueError):
        lut[0] = 3


def test_bad_names():
    with pytest.raises(ValueError, match=r"'t2x'.*'t2n'.*'t2p'"):
        build_label_lut('taskonomy', 't2x')
    with pytest.raises(ValueError, match=r"'cityscapes'.*'nyudv2'"):
        build_label_lut('cityscapes')
    with pytest.raises(ValueError, match=r"'t2p'.*'nyudv2'"):
        build_label_lut('nyudv2', 't2p')
