"""Label sets of the datasets and the shared-class maps between them.

Every semantic map on disk holds *file values* (the raw pixel values of the
PNG). A label lookup table (LUT) turns them into the *train ids* the model
sees: ``0 .. C-1`` for the ``C`` classes in play and ``255`` for pixels that
are ignored (unlabelled, uncertain, or a class outside the shared set).

Native label sets (``class_map=None``):

- ``nyudv2``: file values ``1..40`` are the NYU-40 classes, ``0`` is
  unlabelled. Train id = value - 1, ``0 -> 255``.
- ``taskonomy``: file values ``0`` = uncertain (ignored), ``1`` = background,
  ``2..17`` = bottle .. vase. Train id = value - 1 (17 classes, background is
  class 0), ``0 -> 255``.
- ``pascal``: VOC ids, ``0`` = background, ``1..20`` the VOC classes and
  ``255`` the void border. Train id = value, ``255 -> 255``.

Shared classes (``class_map``): the released reference code and the label
sets themselves fix two maps (see DESIGN §8 and docs/datasets.md):

- ``'t2n'`` (alias ``'n2t'``), Taskonomy <-> NYUD-v2, 7 classes:
  refrigerator, table, toilet, sofa, bed, sink, chair.
- ``'t2p'`` (alias ``'p2t'``), Taskonomy <-> PASCAL, 6 classes:
  table, tv, bottle, sofa, potted plant, chair.

Under a class map every pixel whose class is not shared becomes ``255``.
"""
from functools import lru_cache
from typing import Dict, Optional, Tuple

import numpy as np

IGNORE_INDEX = 255

NYUDV2_CLASSES: Tuple[str, ...] = (
    'wall', 'floor', 'cabinet', 'bed', 'chair', 'sofa', 'table', 'door',
    'window', 'bookshelf', 'picture', 'counter', 'blinds', 'desk', 'shelves',
    'curtain', 'dresser', 'pillow', 'mirror', 'floor mat', 'clothes',
    'ceiling', 'books', 'refrigerator', 'television', 'paper', 'towel',
    'shower curtain', 'box', 'whiteboard', 'person', 'night stand', 'toilet',
    'sink', 'lamp', 'bathtub', 'bag', 'otherstructure', 'otherfurniture',
    'otherprop')

TASKONOMY_CLASSES: Tuple[str, ...] = (
    'background', 'bottle', 'chair', 'couch', 'potted plant', 'bed',
    'dining table', 'toilet', 'tv', 'microwave', 'oven', 'toaster', 'sink',
    'refrigerator', 'book', 'clock', 'vase')

PASCAL_CLASSES: Tuple[str, ...] = (
    'background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus',
    'car', 'cat', 'chair', 'cow', 'diningtable', 'dog', 'horse', 'motorbike',
    'person', 'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor')

#: File value -> native train id, per dataset (values not listed -> 255).
_NATIVE_IDS: Dict[str, Dict[int, int]] = {
    'nyudv2': {v: v - 1 for v in range(1, 41)},
    'taskonomy': {v: v - 1 for v in range(1, 18)},
    'pascal': {v: v for v in range(0, 21)},
}

#: File values that may legally appear on disk, per dataset.
_KNOWN_VALUES: Dict[str, Tuple[int, ...]] = {
    'nyudv2': tuple(range(0, 41)),
    'taskonomy': tuple(range(0, 18)),
    'pascal': tuple(range(0, 21)) + (255, ),
}

_NATIVE_CLASSES: Dict[str, Tuple[str, ...]] = {
    'nyudv2': NYUDV2_CLASSES,
    'taskonomy': TASKONOMY_CLASSES,
    'pascal': PASCAL_CLASSES,
}

#: Shared classes, in train-id order, and the *file value* of each class in
#: each dataset the map relates.
SHARED_CLASS_MAPS: Dict[str, dict] = {
    't2n': dict(
        classes=('refrigerator', 'table', 'toilet', 'sofa', 'bed', 'sink',
                 'chair'),
        values=dict(
            taskonomy=(14, 7, 8, 4, 6, 13, 3),
            # NYU-40 zero-based ids 23, 6, 32, 5, 3, 33, 4; files are 1-based.
            nyudv2=(24, 7, 33, 6, 4, 34, 5),
        )),
    't2p': dict(
        classes=('table', 'tv', 'bottle', 'sofa', 'potted plant', 'chair'),
        values=dict(
            taskonomy=(7, 9, 2, 4, 5, 3),
            pascal=(11, 20, 5, 18, 16, 9),
        )),
}

#: Accepted spellings of the class-map names.
CLASS_MAP_ALIASES: Dict[str, str] = {
    't2n': 't2n',
    'n2t': 't2n',
    't2p': 't2p',
    'p2t': 't2p',
}

LABEL_SETS: Tuple[str, ...] = tuple(_NATIVE_IDS)


def check_label_set(dataset: str) -> str:
    """Return ``dataset`` if it names a known label set.

    Raises:
        ValueError: naming the unknown label set and the known ones.
    """
    if dataset not in _NATIVE_IDS:
        raise ValueError(f'unknown label set {dataset!r}; expected one of '
                         f'{LABEL_SETS}')
    return dataset


def canonical_class_map(class_map: Optional[str]) -> Optional[str]:
    """Resolve a class-map name (or alias) to ``'t2n'``, ``'t2p'`` or None.

    Raises:
        ValueError: naming the unknown class map and the valid names.
    """
    if class_map is None:
        return None
    if class_map not in CLASS_MAP_ALIASES:
        raise ValueError(
            f'unknown class_map {class_map!r}; expected None (native classes) '
            f'or one of {tuple(CLASS_MAP_ALIASES)}')
    return CLASS_MAP_ALIASES[class_map]


def known_label_values(dataset: str) -> np.ndarray:
    """File values that may appear in a semantic map of ``dataset``."""
    return np.asarray(_KNOWN_VALUES[check_label_set(dataset)], dtype=np.uint8)


def class_names(dataset: str,
                class_map: Optional[str] = None) -> Tuple[str, ...]:
    """Class names (train-id order) for ``dataset`` under ``class_map``."""
    return _build(check_label_set(dataset), canonical_class_map(class_map))[1]


def build_label_lut(
        dataset: str,
        class_map: Optional[str] = None) -> Tuple[np.ndarray, Tuple[str, ...]]:
    """Build the lookup table from file values to train ids.

    Args:
        dataset: label set of the files: ``'nyudv2'``, ``'taskonomy'`` or
            ``'pascal'``.
        class_map: ``None`` for the dataset's native classes, or a shared
            class map: ``'t2n'``/``'n2t'`` (Taskonomy <-> NYUD-v2, 7 classes)
            or ``'t2p'``/``'p2t'`` (Taskonomy <-> PASCAL, 6 classes).

    Returns:
        ``(lut, classes)``: ``lut`` is a read-only ``np.uint8`` array of
        length 256 with ``lut[file_value] = train_id`` (``255`` = ignore);
        ``classes`` the class names in train-id order.

    Raises:
        ValueError: an unknown label set or class map, or a class map that
            does not cover ``dataset``.
    """
    lut, names = _build(check_label_set(dataset),
                        canonical_class_map(class_map))
    return lut, names


@lru_cache(maxsize=None)
def _build(dataset: str,
           class_map: Optional[str]) -> Tuple[np.ndarray, Tuple[str, ...]]:
    lut = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    if class_map is None:
        for value, train_id in _NATIVE_IDS[dataset].items():
            lut[value] = train_id
        names = _NATIVE_CLASSES[dataset]
    else:
        spec = SHARED_CLASS_MAPS[class_map]
        if dataset not in spec['values']:
            raise ValueError(
                f'class_map {class_map!r} relates '
                f'{" and ".join(spec["values"])}; it has no classes for '
                f'{dataset!r}')
        for train_id, value in enumerate(spec['values'][dataset]):
            lut[value] = train_id
        names = tuple(spec['classes'])
    lut.setflags(write=False)
    return lut, names
