"""Walk a multi-task dataset once and report what is wrong with it.

Entry points: :func:`check_dataset` (one dataset config),
:func:`dataset_cfgs_from_config` / :func:`dataset_cfgs_from_root` (what to
check) and :func:`format_report`. The command line is
``tools/data/check_dataset.py``::

    python tools/data/check_dataset.py configs/trttt/t2n.py
    python tools/data/check_dataset.py data/NYUDv2 --class-map t2n
    python tools/data/check_dataset.py data/PASCAL_MT --split val

For every dataset the report gives the number of samples, the files missing
per task, files that do not decode as their format promises (e.g. an 8-bit
PNG where a 16-bit one is expected, segmentation values outside the label
set, a ``.mat`` without ``LabelMap``), values out of range (depth not in
metres, ``.npy`` normals outside [-1, 1], ``.npy`` edges outside [0, 1]),
maps whose size differs from the image's, files that cannot be read
(broken symbolic links, symbolic link loops), and the class histogram after
the class map. Problems make the exit status non-zero; warnings (e.g. depth
maps with some NaN pixels, which load as invalid) do not.

The checker only reads: it never writes into a dataset folder (nor into an
edge cache: PASCAL edges are computed in memory).
"""
import copy
import sys
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from trttt_mm.tasks import GT_KEYS
from .decoders import load_npy, read_bytes
from .nyudv2 import NYUDv2MultiTaskDataset
from .pascal_context import PascalContextMultiTaskDataset
from .paths import NOT_FOUND, path_problem
from .taskonomy import TaskonomyMultiTaskDataset

#: Depth above this many metres is reported as "not metres".
MAX_DEPTH_M = 200.0
#: How many lines of one kind a report lists before summarising.
MAX_LINES = 10

#: Dataset class of each layout, in the order root detection tries them
#: (Taskonomy's test is the loosest, so it comes last).
DATASET_CLASSES = OrderedDict([
    ('nyudv2', NYUDv2MultiTaskDataset),
    ('pascal', PascalContextMultiTaskDataset),
    ('taskonomy', TaskonomyMultiTaskDataset),
])
DATASET_TYPES = {name: cls.__name__ for name, cls in DATASET_CLASSES.items()}


class DatasetReport:
    """What :func:`check_dataset` found in one dataset.

    Attributes:
        label: which dataset (loader names, type, root, split).
        num_samples: samples listed (None if listing failed).
        tasks: the dataset's tasks.
        missing: task (or ``'image'``) -> missing file paths.
        problems: ``(kind, message)`` pairs; kind is one of ``listing``,
            ``missing``, ``encoding``, ``size``, ``range``.
        warnings: messages that do not fail the check.
        class_names: class names after the class map.
        class_pixels: ``(256,)`` pixel count per train id (255 = ignored).
        checked: samples whose files were decoded.
        info: extra facts (detected layout, suffixes, ...).
    """

    def __init__(self, label: str) -> None:
        self.label = label
        self.num_samples: Optional[int] = None
        self.tasks: Tuple[str, ...] = ()
        self.missing: Dict[str, List[str]] = OrderedDict()
        self.problems: List[Tuple[str, str]] = []
        self.warnings: List[str] = []
        self.class_names: Tuple[str, ...] = ()
        self.class_pixels = np.zeros(256, dtype=np.int64)
        self.checked = 0
        self.info: Dict[str, str] = OrderedDict()

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, kind: str, message: str) -> None:
        self.problems.append((kind, message))

    def to_dict(self) -> dict:
        """A JSON-friendly summary."""
        hist = {}
        for i, name in enumerate(self.class_names):
            hist[name] = int(self.class_pixels[i])
        hist['ignored'] = int(self.class_pixels[255])
        return dict(
            label=self.label,
            ok=self.ok,
            num_samples=self.num_samples,
            checked=self.checked,
            tasks=list(self.tasks),
            missing={k: len(v)
                     for k, v in self.missing.items()},
            problems=[dict(kind=k, message=m) for k, m in self.problems],
            warnings=list(self.warnings),
            class_histogram=hist,
            info=dict(self.info))


# --------------------------------------------------------------------------
# what to check
# --------------------------------------------------------------------------
def _unwrap(ds_cfg) -> List[dict]:
    """Leaf dataset configs of (possibly wrapped) dataset configs."""
    if ds_cfg is None:
        return []
    if isinstance(ds_cfg, (list, tuple)):
        return [leaf for item in ds_cfg for leaf in _unwrap(item)]
    if 'datasets' in ds_cfg:  # ConcatDataset
        return _unwrap(ds_cfg['datasets'])
    if 'dataset' in ds_cfg:  # RepeatDataset, ClassBalancedDataset, ...
        return _unwrap(ds_cfg['dataset'])
    return [ds_cfg]


#: Dataset arguments that do not change which files are read.
_NOT_DATA_KEYS = ('pipeline', 'test_mode', 'lazy_init', 'serialize_data',
                  'max_refetch')


def dataset_cfgs_from_config(cfg) -> List[Tuple[str, dict]]:
    """``(label, dataset cfg)`` for every dataset of the config's
    ``train_dataloader``, ``val_dataloader`` and ``test_dataloader``.

    A dataset used by several loaders is listed once, labelled with all of
    them.
    """
    found: 'OrderedDict[str, Tuple[List[str], dict]]' = OrderedDict()
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader_cfg = cfg.get(loader)
        if not loader_cfg:
            continue
        for ds_cfg in _unwrap(loader_cfg.get('dataset')):
            plain = _to_plain(ds_cfg)
            key = repr(sorted((k, repr(v)) for k, v in plain.items()
                              if k not in _NOT_DATA_KEYS))
            if key in found:
                found[key][0].append(loader)
            else:
                found[key] = ([loader], plain)
    return [(', '.join(loaders), ds_cfg)
            for loaders, ds_cfg in found.values()]


def _to_plain(obj):
    if hasattr(obj, 'to_dict'):
        obj = obj.to_dict()
    if isinstance(obj, dict):
        return {k: _to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_plain(v) for v in obj)
    return obj


def detect_root_layout(root: str) -> str:
    """``'nyudv2'``, ``'pascal'`` or ``'taskonomy'`` from a folder's content.

    Asks each dataset class of :data:`DATASET_CLASSES` whether the folder
    looks like its layout (``looks_like``).

    Raises:
        FileNotFoundError: ``root`` is not a folder (the message says why:
            missing, a file, a symbolic link loop, ...) or matches no layout.
    """
    problem = path_problem(root, expect='folder')
    if problem:
        raise FileNotFoundError(f'{root!r} {problem}')
    for layout, cls in DATASET_CLASSES.items():
        if cls.looks_like(root):
            return layout
    raise FileNotFoundError(
        f'could not tell which dataset {root!r} holds: expected gt_sets/ and '
        'images/ (NYUDv2), JPEGImages/ and ImageSets/Context/ (PASCAL_MT), '
        'or rgb/ or <building>/rgb/point_*_domain_rgb.png (Taskonomy). See '
        'docs/datasets.md.')


def dataset_cfgs_from_root(root: str,
                           class_map: Optional[str] = None,
                           tasks: Optional[Sequence[str]] = None,
                           splits: Optional[Sequence[str]] = None
                           ) -> List[Tuple[str, dict]]:
    """``(label, dataset cfg)`` per split of the dataset in ``root``.

    Args:
        root: a dataset folder (layout detected by
            :func:`detect_root_layout`).
        class_map: class map of the datasets (default: native classes).
        tasks: tasks to check (default: every task of the dataset).
        splits: split names/paths (default: every split file found; for a
            Taskonomy folder without ``splits/``, every building).
    """
    layout = detect_root_layout(root)
    if not splits:
        splits = DATASET_CLASSES[layout].available_splits(root)
        if not splits:
            raise FileNotFoundError(
                f'no split files found in {root!r} ({layout}); pass --split')
    out = []
    for split in splits:
        ds_cfg = dict(
            type=DATASET_TYPES[layout],
            data_root=root,
            split=split,
            class_map=class_map)
        if tasks:
            ds_cfg['tasks'] = tuple(tasks)
        out.append((f'{layout} split {split!r}', ds_cfg))
    return out


# --------------------------------------------------------------------------
# the walk
# --------------------------------------------------------------------------
def _build(ds_cfg: dict):
    from mmseg.registry import DATASETS
    cfg = copy.deepcopy(ds_cfg)
    cfg.update(pipeline=[], lazy_init=True, serialize_data=False)
    if cfg.get('type') in ('PascalContextMultiTaskDataset',
                           'trttt_mm.PascalContextMultiTaskDataset'):
        cfg['edge_cache_dir'] = None  # the checker writes nothing
    return DATASETS.build(cfg)


def _describe(ds_cfg: dict) -> str:
    parts = [str(ds_cfg.get('type'))]
    for key in ('data_root', 'split', 'class_map'):
        if key in ds_cfg:
            parts.append(f'{key}={ds_cfg[key]!r}')
    return ' '.join(parts)


#: Walks of at least this many samples show a progress bar.
PROGRESS_MIN = 50


def _progress(total: int, enabled: bool):
    if not enabled or total < PROGRESS_MIN:
        return None
    from mmengine.utils import ProgressBar
    return ProgressBar(total, file=sys.stderr)


def check_dataset(ds_cfg: dict,
                  label: str = '',
                  limit: Optional[int] = None,
                  progress: bool = False) -> DatasetReport:
    """Walk one dataset once and report its problems.

    Args:
        ds_cfg: a dataset config (a ``MultiTaskDataset``); its pipeline is
            ignored.
        label: where the dataset comes from (shown in the report).
        limit: decode at most this many samples (a positive integer; all
            files are still checked for existence). None decodes all.
        progress: show an mmengine ProgressBar on stderr.

    Raises:
        ValueError: ``limit`` is not None nor a positive integer.
    """
    if limit is not None and (isinstance(limit, bool)
                              or not isinstance(limit, (int, np.integer))
                              or limit < 1):
        raise ValueError(f'limit must be a positive integer or None, got '
                         f'{limit!r}')
    from .base import MultiTaskDataset
    from .transforms import (LoadMultiTaskAnnotations,
                             LoadMultiTaskImageFromFile)

    report = DatasetReport(f'{label}: {_describe(ds_cfg)}'
                           if label else _describe(ds_cfg))
    try:
        ds = _build(ds_cfg)
    except Exception as exc:  # bad arguments: unknown class map, task, ...
        report.problem('listing',
                       f'cannot build the dataset: {type(exc).__name__}: '
                       f'{exc}')
        return report
    if not isinstance(ds, MultiTaskDataset):
        report.warnings.append(
            f'{type(ds).__name__} is not a trttt_mm multi-task dataset; '
            'skipped')
        return report
    report.tasks = ds.tasks
    report.class_names = tuple(ds.metainfo['classes'])
    try:
        with ds.collect_missing() as missing:
            data_list = ds.load_data_list()
    except Exception as exc:
        report.problem('listing', f'{type(exc).__name__}: {exc}')
        return report
    report.num_samples = len(data_list)
    for attr in ('layout', 'package'):
        value = getattr(ds, attr, None)
        if isinstance(value, str):
            report.info[attr] = value
    if hasattr(ds, 'suffixes'):
        report.info['suffixes'] = ', '.join(
            f'{k} {v}' for k, v in ds.suffixes.items())
    missing_paths = set()
    unreadable = []
    for rec in missing:
        missing_paths.add(rec['path'])
        problem = rec.get('problem', NOT_FOUND)
        if problem == NOT_FOUND:
            report.missing.setdefault(rec['task'], []).append(rec['path'])
        else:  # a symbolic link loop, a broken link, a folder, ...
            unreadable.append(f'{rec["task"]}: {rec["path"]!r} {problem}')
    for task, paths in report.missing.items():
        report.problem(
            'missing', f'{task}: {len(paths)} file(s) missing, e.g. '
            f'{paths[0]!r}')
    for msg in unreadable:
        report.problem('unreadable', msg)
    ids = [info.get('img_id') for info in data_list]
    if len(set(ids)) != len(ids):
        dups = sorted({i for i in ids if ids.count(i) > 1})
        report.warnings.append(
            f'{len(dups)} sample id(s) listed more than once, e.g. {dups[0]}')

    decode_cfg = copy.deepcopy(ds.decode_cfg())
    if decode_cfg.get('edge', {}).get('source') == 'label_map':
        decode_cfg['edge'].update(cache_dir=None, cache_size=0)
    load_img = LoadMultiTaskImageFromFile()
    loaders = {t: LoadMultiTaskAnnotations(tasks=(t, )) for t in ds.tasks}
    todo = data_list if limit is None else data_list[:int(limit)]
    bar = _progress(len(todo), progress)
    edge_pixels = [0, 0]
    for info in todo:
        _check_sample(info, decode_cfg, ds.tasks, load_img, loaders,
                      missing_paths, report, edge_pixels)
        report.checked += 1
        if bar is not None:
            bar.update()
    if bar is not None:
        sys.stderr.write('\n')
    if 'edge' in ds.tasks and edge_pixels[1] and not edge_pixels[0]:
        report.warnings.append(
            'no edge pixel in any checked sample: is the edge threshold '
            '(edge_threshold) right for these files?')
    if 'semseg' in ds.tasks and report.class_pixels.sum() and not \
            report.class_pixels[:255].sum():
        report.warnings.append(
            'every semantic pixel is ignored (255) after the class map')
    return report


def _check_sample(info, decode_cfg, tasks, load_img, loaders, missing_paths,
                  report, edge_pixels) -> None:
    from .base import PATH_KEYS
    sample = info.get('img_id')
    shapes = OrderedDict()
    img_path = info['img_path']
    if img_path not in missing_paths:
        try:
            img = load_img(dict(img_path=img_path))['img']
            shapes['image'] = (img.shape[:2], img_path)
        except Exception as exc:
            report.problem('encoding', f'{type(exc).__name__}: {exc}')
    for task in tasks:
        path = info[PATH_KEYS[task]]
        if path in missing_paths or info.get('label_map_path') in \
                missing_paths and task in ('normal', 'edge'):
            continue
        results = dict(info, decode_cfg=decode_cfg)
        results.pop('ori_shape', None)
        try:
            arr = loaders[task](results)[GT_KEYS[task]]
        except Exception as exc:
            report.problem('encoding', f'{type(exc).__name__}: {exc}')
            continue
        shapes[task] = (arr.shape[:2], path)
        _check_values(task, arr, path, report, edge_pixels)
    sizes = {s for s, _ in shapes.values()}
    if len(sizes) > 1:
        listing = ', '.join(f'{k} {s[0]}x{s[1]} ({p})'
                            for k, (s, p) in shapes.items())
        report.problem('size', f'sample {sample!r}: sizes differ: {listing}')


def _check_values(task, arr, path, report, edge_pixels) -> None:
    if task == 'semseg':
        report.class_pixels += np.bincount(
            arr.ravel(), minlength=256)[:256]
    elif task == 'depth':
        if path.lower().endswith('.npy'):
            _check_raw_depth(path, report)
        valid = arr > 0
        if not valid.any():
            report.warnings.append(f'depth file {path!r}: no valid pixel')
        elif float(arr.max()) > MAX_DEPTH_M:
            report.problem(
                'range', f'depth file {path!r}: values up to '
                f'{float(arr.max()):.1f} m; expected metres (at most '
                f'{MAX_DEPTH_M:g}); is it stored in millimetres or with the '
                'wrong scale?')
    elif task == 'normal':
        if path.lower().endswith('.npy'):
            raw = _raw_npy(path, 'normal (normal map)')
            finite = raw[np.isfinite(raw)]
            if finite.size and (finite.min() < -1.01 or finite.max() > 1.01):
                report.problem(
                    'range', f'normal file {path!r}: values in '
                    f'[{finite.min():.3g}, {finite.max():.3g}]; expected '
                    'unit vectors in [-1, 1]')
        if not np.abs(arr).sum(-1).any():
            report.warnings.append(f'normal file {path!r}: no valid normal')
    elif task == 'edge':
        if path.lower().endswith('.npy'):
            raw = _raw_npy(path, 'edge (edge map)')
            finite = raw[np.isfinite(raw)]
            if finite.size and (finite.min() < 0 or finite.max() > 1):
                report.problem(
                    'range', f'edge file {path!r}: values in '
                    f'[{finite.min():.3g}, {finite.max():.3g}]; expected '
                    '[0, 1]')
        # edge pixels: 1 when binarised, > 0 for a continuous strength
        edge_pixels[0] += int(((arr > 0) & (arr <= 1)).sum())
        edge_pixels[1] += int(arr.size)


def _raw_npy(path: str, what: str) -> np.ndarray:
    """The raw array of a ``.npy`` file (already decoded once by the
    loader, so errors here are unexpected)."""
    return load_npy(read_bytes(path, what), path, what)


def _check_raw_depth(path: str, report: DatasetReport) -> None:
    """Warn about non-finite and negative values of a ``.npy`` depth map:
    the loader reads them as invalid (0) without a word."""
    raw = _raw_npy(path, 'depth (depth map)')
    if not np.issubdtype(raw.dtype, np.floating):
        return
    total = int(raw.size)
    nonfinite = int(total - np.isfinite(raw).sum())
    negative = int((raw < 0).sum())
    if nonfinite and nonfinite < total:  # all-NaN: "no valid pixel" below
        report.warnings.append(
            f'depth file {path!r}: {nonfinite} of {total} pixels are NaN or '
            'infinite; they are read as invalid (0). Expected 0 for "no '
            'depth" (ATRC package)')
    if negative:
        report.warnings.append(
            f'depth file {path!r}: {negative} of {total} pixels are '
            'negative; they are read as invalid (0)')


# --------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------
def format_report(report: DatasetReport) -> str:
    """The text report of one dataset."""
    lines = [f'== {report.label}']
    status = 'OK' if report.ok else f'{len(report.problems)} problem(s)'
    n = '?' if report.num_samples is None else report.num_samples
    lines.append(f'samples: {n} (decoded {report.checked})   tasks: '
                 f'{", ".join(report.tasks) or "-"}   status: {status}')
    for key, value in report.info.items():
        lines.append(f'{key}: {value}')
    if report.num_samples is not None:
        if report.missing:
            counts = ', '.join(f'{t} {len(p)}'
                               for t, p in report.missing.items())
            lines.append(f'missing files per task: {counts}')
        else:
            lines.append('missing files per task: none')
    if report.problems:
        lines.append('problems:')
        by_kind: Dict[str, List[str]] = OrderedDict()
        for kind, msg in report.problems:
            by_kind.setdefault(kind, []).append(msg)
        for kind, msgs in by_kind.items():
            for msg in msgs[:MAX_LINES]:
                lines.append(f'  [{kind}] {msg}')
            if len(msgs) > MAX_LINES:
                lines.append(f'  [{kind}] ... and {len(msgs) - MAX_LINES} '
                             'more')
        for task, paths in report.missing.items():
            for path in paths[:MAX_LINES]:
                lines.append(f'  [missing] {task}: {path}')
            if len(paths) > MAX_LINES:
                lines.append(f'  [missing] {task}: ... and '
                             f'{len(paths) - MAX_LINES} more')
    if report.warnings:
        lines.append('warnings:')
        for msg in report.warnings[:MAX_LINES]:
            lines.append(f'  {msg}')
        if len(report.warnings) > MAX_LINES:
            lines.append(f'  ... and {len(report.warnings) - MAX_LINES} more')
    total = int(report.class_pixels.sum())
    if report.class_names and total:
        lines.append('class histogram after the class map (share of all '
                     'semantic pixels):')
        width = max(len(c) for c in report.class_names + ('ignored (255)', ))
        for i, name in enumerate(report.class_names):
            count = int(report.class_pixels[i])
            if not count:
                continue  # listed under "never seen"
            share = 100 * count / total
            lines.append(f'  {i:3d} {name:<{width}s} {share:6.2f}% '
                         f'{count:>12d} px')
        count = int(report.class_pixels[255])
        lines.append(f'  {"":3s} {"ignored (255)":<{width}s} '
                     f'{100 * count / total:6.2f}% {count:>12d} px')
        absent = [c for i, c in enumerate(report.class_names)
                  if not report.class_pixels[i]]
        if absent:
            lines.append(f'  never seen: {", ".join(absent)}')
    return '\n'.join(lines)
