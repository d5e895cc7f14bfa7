"""Shared base of the multi-task datasets.

A multi-task dataset lists, per sample, the path of the image and of each
task's ground-truth file; it does not decode anything.
:class:`~trttt_mm.datasets.transforms.LoadMultiTaskAnnotations` decodes the
files, guided by the ``decode_cfg`` that :meth:`MultiTaskDataset.get_data_info`
adds to every sample.

``data_info`` keys of every sample:

- ``img_path``, ``img_id``, ``tasks`` (tuple of task names),
- one path per task: ``seg_map_path``, ``depth_path``, ``normal_path``,
  ``edge_path`` (only for the dataset's ``tasks``),
- ``reduce_zero_label`` (always ``False``; the label LUT does that job),
- ``decode_cfg``: how to decode each task's file (see
  :data:`DECODE_CFG_DOC`), and ``sample_idx`` (added by mmengine).
"""
import contextlib
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.registry import DefaultScope

from trttt_mm.tasks import PATH_KEYS, TASKS, check_tasks  # noqa: F401
from .class_maps import IGNORE_INDEX, build_label_lut, canonical_class_map
from .paths import NOT_FOUND, path_problem

DECODE_CFG_DOC = """\
``decode_cfg`` (per task, all optional except ``semseg.label_set``):

- ``semseg``: ``label_set`` ('nyudv2' | 'taskonomy' | 'pascal') and
  ``class_map`` (None | 't2n' | 't2p'); 8-bit PNG.
- ``depth``: ``scale`` (metres = value / scale, default 1),
  ``invalid_value`` (raw value meaning "no depth", default None),
  ``bit_depth`` (for PNG files, default 16). ``.npy`` files hold float
  metres (``scale`` still applies); an integer ``.npy`` (e.g. millimetres)
  is refused, naming the file.
- ``normal``: ``bit_depth`` (default 8); PNG channels R, G, B hold x, y, z
  encoded as ``v / (2**bit_depth - 1) * 2 - 1``; ``.npy`` holds floats.
  Optional ``valid_label_map=dict(path_key='label_map_path',
  key='LabelMap', valid_ids='pascal_context_normals')``: keep a normal only
  where the class in the sample's ``.mat`` label map is one of
  ``valid_ids`` (a name in
  :data:`trttt_mm.datasets.pascal_classes.VALID_ID_SETS` or a list).
- ``edge``: ``source`` (``'file'``, default, or ``'label_map'``).
  ``'file'``: ``bit_depth`` (default 8) and ``threshold`` (default 0.5): an
  edge is ``value / (2**bit_depth - 1) > threshold`` (``.npy``: the raw
  float ``> threshold``). ``'label_map'``: the edge path is a ``.mat``
  file; edges are ``thin(|Laplacian(mat[key])| > 0)`` (``key`` default
  ``'LabelMap'``), cached per file in memory (``cache_size`` entries) and,
  if ``cache_dir`` is not None, on disk there.
"""

DOCS_HINT = ('See docs/datasets.md for how to download and lay out the '
             'data, or generate a small synthetic stand-in with '
             '`python tools/data/make_synthetic.py`.')


class DataFormatError(ValueError):
    """A data file exists but does not hold what its format promises."""


def check_unique_entries(entries: Sequence[str], where: str,
                         lines: Optional[Sequence[int]] = None) -> None:
    """Refuse a split that lists an entry (a sample id, a building) twice.

    Args:
        entries: the split's entries, in order.
        where: what listed them, for the message (e.g. ``"split file
            'gt_sets/val.txt'"``).
        lines: the line number of each entry in a file (named in the
            message), or None for positions in a list.

    Raises:
        DataFormatError: naming the first repeated entry, where it occurs,
            and how many entries are repeated.
    """
    first: Dict[str, int] = {}
    repeated: Dict[str, List[int]] = {}
    for pos, entry in enumerate(entries):
        at = lines[pos] if lines is not None else pos
        if entry in first:
            repeated.setdefault(entry, [first[entry]]).append(at)
        else:
            first[entry] = at
    if not repeated:
        return
    entry, places = next(iter(repeated.items()))
    unit = 'lines' if lines is not None else 'positions'
    more = (f' ({len(repeated)} entries are repeated in all)'
            if len(repeated) > 1 else '')
    raise DataFormatError(
        f'{where} lists {entry!r} {len(places)} times ({unit} '
        f'{", ".join(map(str, places))}){more}; each entry must appear '
        'once, or its samples are trained on and scored more than once')


def make_palette(num_classes: int, seed: int = 0) -> List[List[int]]:
    """A fixed, deterministic RGB palette with ``num_classes`` entries."""
    rng = np.random.RandomState(seed)
    return rng.randint(0, 256, size=(num_classes, 3)).tolist()


def _default_scope_for_build():
    """Build the pipeline in the mmseg scope unless a scope is already set.

    Our transforms live in mmseg's registry; without this, building a dataset
    outside a Runner (scripts, tests) could not find them by type name.
    """
    if DefaultScope.get_current_instance() is None:
        return DefaultScope.overwrite_default_scope('mmseg')
    return contextlib.nullcontext()


class MultiTaskDataset(BaseDataset):
    """Base class of the multi-task datasets.

    Subclasses set :attr:`LABEL_SET` (the label set of their semantic maps,
    see :mod:`trttt_mm.datasets.class_maps`), :attr:`LAYOUT` (a one-line
    description of the expected layout, used in error messages) and implement
    :meth:`load_data_list` and :meth:`decode_cfg`.

    Args:
        data_root: root folder of the dataset package.
        split: which samples to list (meaning depends on the dataset).
        tasks: subset of ``('semseg', 'depth', 'normal', 'edge')``.
        class_map: ``None`` for the native classes, ``'t2n'`` (alias
            ``'n2t'``) or ``'t2p'`` (alias ``'p2t'``) for the classes shared
            with another dataset; the metainfo ``classes`` follow it.
        pipeline: the data pipeline (transform configs or callables).
        metainfo: extra metainfo (may override ``palette``; ``classes``, if
            given, must equal the classes that ``class_map`` implies).
        filter_cfg, indices, serialize_data, test_mode, lazy_init,
            max_refetch: as in :class:`mmengine.dataset.BaseDataset`.
    """

    LABEL_SET: str = ''
    LAYOUT: str = ''
    METAINFO: dict = dict()
    _missing_sink: Optional[List[dict]] = None

    def __init__(self,
                 data_root: str,
                 split: Union[str, Sequence[str]],
                 tasks: Sequence[str] = TASKS,
                 class_map: Optional[str] = None,
                 pipeline: Sequence = (),
                 metainfo: Optional[dict] = None,
                 filter_cfg: Optional[dict] = None,
                 indices: Optional[Union[int, Sequence[int]]] = None,
                 serialize_data: bool = True,
                 test_mode: bool = False,
                 lazy_init: bool = False,
                 max_refetch: int = 1000) -> None:
        name = type(self).__name__
        if isinstance(data_root, os.PathLike):
            data_root = os.fspath(data_root)
        if not isinstance(data_root, str) or not data_root:
            raise ValueError(f'{name}: data_root must be a non-empty path, '
                             f'got {data_root!r}. {DOCS_HINT}')
        self.tasks: Tuple[str, ...] = check_tasks(tasks, where=f'{name}.tasks')
        self.class_map: Optional[str] = canonical_class_map(class_map)
        self.split = split
        _, classes = build_label_lut(self.LABEL_SET, self.class_map)
        metainfo = self._merge_metainfo(classes, metainfo)
        self._decode_cfg = self.decode_cfg()
        with _default_scope_for_build():
            super().__init__(
                ann_file='',
                metainfo=metainfo,
                data_root=data_root,
                data_prefix=dict(),
                filter_cfg=filter_cfg,
                indices=indices,
                serialize_data=serialize_data,
                pipeline=list(pipeline),
                test_mode=test_mode,
                lazy_init=lazy_init,
                max_refetch=max_refetch)
        self._metainfo.update(
            class_map=self.class_map, label_set=self.LABEL_SET)

    # ------------------------------------------------------------ metainfo
    def _merge_metainfo(self, classes: Tuple[str, ...],
                        metainfo: Optional[dict]) -> dict:
        user = dict(metainfo or {})
        if 'classes' in user and tuple(user['classes']) != tuple(classes):
            raise ValueError(
                f'{type(self).__name__}: metainfo classes {user["classes"]} '
                f'disagree with class_map={self.class_map!r}, which gives '
                f'{classes}; choose the classes with class_map')
        # String values are set after BaseDataset's metainfo loading, which
        # would try to read any string as a file name.
        merged = dict(
            classes=tuple(classes),
            palette=make_palette(len(classes)),
            tasks=self.tasks,
            ignore_index=IGNORE_INDEX,
            reduce_zero_label=False)
        for key, value in user.items():
            if key not in ('classes', 'tasks', 'class_map', 'label_set'):
                merged[key] = value
        if len(merged['palette']) != len(classes):
            raise ValueError(
                f'{type(self).__name__}: metainfo palette has '
                f'{len(merged["palette"])} colours, expected {len(classes)}')
        return merged

    # ------------------------------------------------------------ layout
    @classmethod
    def looks_like(cls, root: str) -> bool:
        """Whether the folder ``root`` looks like this dataset's layout.

        A cheap test on folder names only (no file is decoded); used to
        tell which dataset a folder holds (the dataset checker's root
        mode).
        """
        raise NotImplementedError

    @classmethod
    def available_splits(cls, root: str) -> List[str]:
        """Names of the splits ``root`` has split files for, sorted.

        Each name can be passed as ``split`` to the constructor. Empty when
        there is none.
        """
        raise NotImplementedError

    @staticmethod
    def _split_file_names(folder: str) -> List[str]:
        """Sorted ``X`` of the ``X.txt`` files directly in ``folder``."""
        if not osp.isdir(folder):
            return []
        return sorted(
            n[:-4] for n in os.listdir(folder)
            if n.endswith('.txt') and osp.isfile(osp.join(folder, n)))

    # ------------------------------------------------------------ helpers
    def check_data_root(self) -> None:
        """Raise FileNotFoundError if ``data_root`` is not a folder."""
        problem = path_problem(self.data_root, expect='folder')
        if problem:
            where = '' if osp.isabs(self.data_root) else (
                f' (resolved to {osp.abspath(self.data_root)!r})')
            if problem == NOT_FOUND:
                problem = 'does not exist'
            raise FileNotFoundError(
                f'{type(self).__name__}: data_root {self.data_root!r}'
                f'{where} {problem}. Put the '
                f'dataset there (expected {self.LAYOUT}) or point data_root '
                'at your copy (in the config, or with --cfg-options '
                '<train|val|test>_dataloader.dataset.data_root=PATH). '
                f'{DOCS_HINT}')

    def resolve_split_file(self, split: str, default_dir: str) -> str:
        """Turn a split argument into the path of an existing split file.

        ``split`` is a path if it is absolute, contains a path separator or
        ends with ``.txt`` (relative paths are resolved against
        ``data_root``); otherwise it is a name ``X`` meaning
        ``<data_root>/<default_dir>/X.txt``.
        """
        if os.path.isabs(split) or '/' in split or os.sep in split \
                or split.endswith('.txt'):
            path = split if osp.isabs(split) else osp.join(
                self.data_root, split)
        else:
            path = osp.join(self.data_root, default_dir, f'{split}.txt')
        problem = path_problem(path)
        if problem:
            raise FileNotFoundError(
                f'{type(self).__name__}: split file {path!r} {problem} '
                f'(split={split!r}; expected a text file with one entry per '
                f'line, a name X meaning {default_dir}/X.txt under '
                f'data_root). {DOCS_HINT}')
        return path

    @staticmethod
    def read_split_file(path: str) -> List[str]:
        """Non-empty, non-comment lines of a split file, stripped.

        Raises:
            DataFormatError: the file is not UTF-8 (or ASCII) text, or lists
                an entry twice (it would be trained on or scored twice).
            ValueError: the file lists no entries.
        """
        with open(path, 'rb') as f:
            raw = f.read()
        try:
            text = raw.decode('utf-8-sig')
        except UnicodeDecodeError as exc:
            line = raw[:exc.start].count(b'\n') + 1
            raise DataFormatError(
                f'split file {path!r} is not UTF-8 text: byte '
                f'{raw[exc.start:exc.start + 1]!r} at offset {exc.start} '
                f'(line {line}) does not decode; expected UTF-8 (or ASCII) '
                'text with one entry per line (re-save it as UTF-8, e.g. '
                f'`iconv -f latin1 -t utf-8`)') from None
        numbered = [(i, ln.strip())
                    for i, ln in enumerate(text.splitlines(), start=1)]
        numbered = [(i, e) for i, e in numbered
                    if e and not e.startswith('#')]
        if not numbered:
            raise ValueError(f'split file {path!r} lists no entries')
        check_unique_entries([e for _, e in numbered], f'split file {path!r}',
                             [i for i, _ in numbered])
        return [e for _, e in numbered]

    def require_file(self,
                     path: str,
                     what: str,
                     sample: str,
                     task: Optional[str] = None) -> bool:
        """Check that ``path`` is a file.

        Raises FileNotFoundError naming ``path`` and the cause (not found,
        a folder, a broken symbolic link, a symbolic link loop; see
        :func:`~trttt_mm.datasets.paths.path_problem`) if it is not, unless
        the dataset is listing inside :meth:`collect_missing`, which records
        the miss (``task``: ``'image'`` or a task name, default ``what``)
        and returns False so that listing can go on.
        """
        if osp.isfile(path):
            return True
        problem = path_problem(path) or NOT_FOUND
        if self._missing_sink is not None:
            self._missing_sink.append(
                dict(task=task or what, what=what, sample=sample, path=path,
                     problem=problem))
            return False
        raise FileNotFoundError(
            f'{type(self).__name__}: {what} file {path!r} of sample '
            f'{sample!r} {problem} (expected {self.LAYOUT})')

    @contextlib.contextmanager
    def collect_missing(self):
        """List samples without failing on missing files.

        Inside the block :meth:`require_file` records misses instead of
        raising; the block yields the list of records (dicts with
        ``task``, ``what``, ``sample``, ``path`` and ``problem``: the cause,
        :data:`~trttt_mm.datasets.paths.NOT_FOUND` for a plain missing
        file). Used by the dataset
        checker (:mod:`trttt_mm.datasets.check`) to report every missing
        file at once::

            ds = DATASETS.build(dict(cfg, lazy_init=True))
            with ds.collect_missing() as missing:
                data_list = ds.load_data_list()
        """
        sink: List[dict] = []
        self._missing_sink = sink
        try:
            yield sink
        finally:
            self._missing_sink = None

    # ------------------------------------------------------------ samples
    def decode_cfg(self) -> dict:
        """How :class:`LoadMultiTaskAnnotations` decodes this dataset."""
        raise NotImplementedError

    def get_data_info(self, idx: int) -> dict:
        """The sample's ``data_info`` with ``decode_cfg`` attached."""
        data_info = super().get_data_info(idx)
        data_info['decode_cfg'] = {
            task: dict(cfg)
            for task, cfg in self._decode_cfg.items()
        }
        return data_info

    def _sample(self, img_id: str, img_path: str,
                task_paths: Dict[str, str]) -> dict:
        """A ``data_info`` dict for one sample (paths must exist)."""
        info = dict(
            img_id=img_id,
            img_path=img_path,
            tasks=self.tasks,
            reduce_zero_label=False)
        for task in self.tasks:
            info[PATH_KEYS[task]] = task_paths[task]
        return info
