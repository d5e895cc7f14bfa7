"""Taskonomy in the omnidata layout or the original per-building one."""
import os
import os.path as osp
import re
from typing import List, Optional, Sequence, Union

from mmseg.registry import DATASETS

from trttt_mm.tasks import TASKS
from .base import (DOCS_HINT, MultiTaskDataset, check_unique_entries,
                   make_palette)
from .class_maps import TASKONOMY_CLASSES

#: omnidata domain (folder) of each task; ``edge`` may be overridden.
TASKONOMY_DOMAINS = {
    'image': 'rgb',
    'semseg': 'segment_semantic',
    'depth': 'depth_zbuffer',
    'normal': 'normal',
    'edge': 'edge_occlusion',
}

_RGB_NAME = re.compile(r'^point_(\d+)_view_(\d+)_domain_rgb\.png$')

#: Accepted values of ``layout``.
TASKONOMY_LAYOUTS = ('auto', 'omnidata', 'original')


def has_rgb_views(folder: str) -> bool:
    """Whether ``folder`` directly holds a ``point_*_domain_rgb.png``."""
    if not osp.isdir(folder):
        return False
    with os.scandir(folder) as it:
        return any(_RGB_NAME.match(e.name) for e in it)


@DATASETS.register_module()
class TaskonomyMultiTaskDataset(MultiTaskDataset):
    """Taskonomy with semantic segmentation, depth, normals and edges.

    Layouts (``layout``):

    - ``'omnidata'`` (the omnidata download tooling)::

          <data_root>/<domain>/taskonomy/<building>/
              point_<P>_view_<V>_domain_<domain>.png

    - ``'original'`` (the original per-building archives, no
      ``taskonomy/<building>`` level), either one building::

          <data_root>/<domain>/point_<P>_view_<V>_domain_<domain>.png

      (``data_root`` *is* the building; ``split`` must be None or
      ``'all'``; the building is named after the folder), or several::

          <data_root>/<building>/<domain>/
              point_<P>_view_<V>_domain_<domain>.png

    - ``'auto'`` (default): ``omnidata`` if ``<data_root>/rgb/taskonomy`` is
      a folder, else ``original`` with one building if ``<data_root>/rgb``
      is, else ``original`` with several buildings if
      ``<data_root>/<building>/rgb`` is a folder for the split's first
      building. :attr:`layout` holds the result after listing.

    Domains ``rgb`` (8-bit), ``depth_zbuffer`` (16-bit, metres =
    v / 512, 65535 = no depth), ``normal`` (8-bit RGB, n = 2 * v / 255 - 1),
    ``edge_occlusion`` (16-bit) and ``segment_semantic`` (8-bit, 0 uncertain
    -> ignored, 1 background, 2..17 bottle .. vase). The samples of a
    building are the files of its ``rgb`` folder, in (point, view) order;
    every other task file of a sample must exist.

    Edges: omnidata's occlusion edges are a 16-bit *strength*, not a binary
    map; real values sit in a small part of the 16-bit range (omnidata's own
    loader configuration clamps them to [0, 0.04] of full scale and treats
    values under about 0.0017 as noise). A threshold of ``0.5`` of full scale
    would therefore find almost no edges, and ``> 0`` would turn noise into
    edges. The default ``edge_threshold=0.02`` binarises at the middle of
    omnidata's clamp range: a pixel is an edge when ``v / 65535 > 0.02``
    (``v > 1310``). It is a judgement call, not a measured optimum: set it
    for your data (a synthetic package that writes edges as 65535 works with
    any threshold in (0, 1)). ``edge_threshold=None`` keeps the continuous
    strength ``v / 65535`` instead (the released TR-TTT code regresses
    Taskonomy edges with L1: ``ContinuousEdgeL1Loss``).

    Args:
        data_root: the folder holding the domain folders.
        split: the buildings: a list of building names, a path to a split
            file (one building per line; relative paths are resolved against
            ``data_root``; a path is anything absolute, containing ``/`` or
            ending with ``.txt``), a name ``X`` meaning
            ``<data_root>/splits/X.txt``, or None / ``'all'`` for every
            building found (the one building of a single-building layout).
        tasks: subset of ``('semseg', 'depth', 'normal', 'edge')``.
        class_map: ``None`` for the 17 native classes (background .. vase ->
            0 .. 16, uncertain -> 255), ``'t2n'``/``'n2t'`` for the 7 classes
            shared with NYUD-v2 or ``'t2p'``/``'p2t'`` for the 6 shared with
            PASCAL (others -> 255).
        edge_domain: domain used for the edge task (``'edge_occlusion'`` or
            ``'edge_texture'``; both 16-bit, which is checked when a file is
            loaded: an 8-bit edge PNG is an error).
        edge_threshold: see above (None: continuous strength).
        depth_scale: raw depth units per metre (512).
        depth_invalid_value: raw depth value that marks "no depth" (65535).
        check_files: check that every task file of every sample exists while
            listing (one ``stat`` per file; turn off only for huge splits).
        layout: ``'auto'``, ``'omnidata'`` or ``'original'`` (see above).
        **kwargs: see :class:`~trttt_mm.datasets.base.MultiTaskDataset`.
    """

    LABEL_SET = 'taskonomy'
    LAYOUT = ('the omnidata Taskonomy layout <domain>/taskonomy/<building>/'
              'point_<P>_view_<V>_domain_<domain>.png, or the original one '
              '[<building>/]<domain>/point_<P>_view_<V>_domain_<domain>.png, '
              'for domains rgb, depth_zbuffer, normal, edge_occlusion (or '
              'edge_texture), segment_semantic')
    METAINFO = dict(
        classes=TASKONOMY_CLASSES,
        palette=make_palette(len(TASKONOMY_CLASSES)))

    def __init__(self,
                 data_root: str,
                 split: Union[str, Sequence[str], None] = None,
                 tasks: Sequence[str] = TASKS,
                 class_map: Optional[str] = None,
                 edge_domain: str = 'edge_occlusion',
                 edge_threshold: Optional[float] = 0.02,
                 depth_scale: float = 512.0,
                 depth_invalid_value: Optional[int] = 65535,
                 check_files: bool = True,
                 layout: str = 'auto',
                 **kwargs) -> None:
        if layout not in TASKONOMY_LAYOUTS:
            raise ValueError(
                f'{type(self).__name__}: unknown layout {layout!r}; expected '
                f'one of {TASKONOMY_LAYOUTS}')
        self.layout_arg = layout
        self.layout = layout
        self._single_building = False
        if edge_domain not in ('edge_occlusion', 'edge_texture'):
            raise ValueError(
                f'{type(self).__name__}: unknown edge_domain {edge_domain!r}; '
                "expected 'edge_occlusion' or 'edge_texture'")
        self.domains = dict(TASKONOMY_DOMAINS, edge=edge_domain)
        self.edge_threshold = None if edge_threshold is None else float(
            edge_threshold)
        self.depth_scale = float(depth_scale)
        self.depth_invalid_value = depth_invalid_value
        self.check_files = check_files
        super().__init__(
            data_root=data_root,
            split=split,
            tasks=tasks,
            class_map=class_map,
            **kwargs)

    @classmethod
    def looks_like(cls, root: str) -> bool:
        """True if ``root`` has an ``rgb/`` folder (omnidata, or the original
        layout of one building) or a ``<building>/rgb/`` folder holding
        ``point_<P>_view_<V>_domain_rgb.png`` files (original layout,
        several buildings)."""
        rgb = TASKONOMY_DOMAINS['image']
        if not osp.isdir(root):
            return False
        if osp.isdir(osp.join(root, rgb)):
            return True
        return any(
            has_rgb_views(osp.join(root, name, rgb))
            for name in sorted(os.listdir(root)))

    @classmethod
    def available_splits(cls, root: str) -> List[str]:
        """The ``X`` of every ``splits/X.txt``, sorted; ``['all']`` (every
        building) when ``root`` has no split file."""
        return cls._split_file_names(osp.join(root, 'splits')) or ['all']

    def decode_cfg(self) -> dict:
        return dict(
            semseg=dict(label_set=self.LABEL_SET, class_map=self.class_map),
            depth=dict(
                bit_depth=16,
                scale=self.depth_scale,
                invalid_value=self.depth_invalid_value),
            normal=dict(bit_depth=8),
            edge=dict(bit_depth=16, threshold=self.edge_threshold),
        )

    def detect_layout(self) -> str:
        """Resolve ``layout='auto'`` from the folders under ``data_root``.

        Sets :attr:`layout` and returns it.

        Raises:
            FileNotFoundError: no known layout matches.
        """
        root = self.data_root
        rgb = TASKONOMY_DOMAINS['image']
        self._single_building = False
        if self.layout_arg in ('auto', 'omnidata') and osp.isdir(
                osp.join(root, rgb, 'taskonomy')):
            self.layout = 'omnidata'
        elif self.layout_arg == 'omnidata':
            raise FileNotFoundError(
                f'{type(self).__name__}: layout=\'omnidata\' but '
                f'{osp.join(root, rgb, "taskonomy")!r} is not a folder '
                f'(expected {self.LAYOUT}). {DOCS_HINT}')
        elif osp.isdir(osp.join(root, rgb)):
            self.layout = 'original'
            self._single_building = True
        else:
            first = None
            if self.split not in (None, 'all'):
                names = self._split_names()
                first = names[0] if names else None
            else:
                first = next(iter(self._building_dirs()), None)
            if first is not None and has_rgb_views(
                    osp.join(root, first, rgb)):
                self.layout = 'original'
            else:
                raise FileNotFoundError(
                    f'{type(self).__name__}: could not find Taskonomy data '
                    f'under {root!r} (layout={self.layout_arg!r}): looked '
                    f'for {rgb}/taskonomy/<building>/ (omnidata), {rgb}/ '
                    f'(original, one building) and <building>/{rgb}/ '
                    f'(original, several buildings). {DOCS_HINT}')
        return self.layout

    def _building_dirs(self) -> List[str]:
        """Buildings found on disk, sorted (for ``split`` None/'all')."""
        rgb = TASKONOMY_DOMAINS['image']
        if self.layout == 'omnidata':
            base = osp.join(self.data_root, rgb, 'taskonomy')
            return sorted(d for d in os.listdir(base)
                          if osp.isdir(osp.join(base, d)))
        return sorted(
            d for d in os.listdir(self.data_root)
            if has_rgb_views(osp.join(self.data_root, d, rgb)))

    def _split_names(self) -> List[str]:
        split = self.split
        if isinstance(split, str):
            return self.read_split_file(
                self.resolve_split_file(split, 'splits'))
        if isinstance(split, Sequence) and all(
                isinstance(b, str) for b in split):
            check_unique_entries(list(split),
                                 f'{type(self).__name__}: split {split!r}')
            return list(split)
        raise TypeError(
            f'{type(self).__name__}: split must be a list of building '
            f'names, a split-file path, a split name or None/\'all\', got '
            f'{split!r}')

    def buildings(self) -> List[str]:
        """The building names that :attr:`split` selects (after
        :meth:`detect_layout`)."""
        split = self.split
        if self._single_building:
            if split not in (None, 'all'):
                raise ValueError(
                    f'{type(self).__name__}: {self.data_root!r} holds one '
                    f'building in the original layout (<domain>/point_...); '
                    f'split must be None or \'all\', got {split!r}')
            return [osp.basename(osp.normpath(osp.realpath(self.data_root)))]
        if split is None or split == 'all':
            names = self._building_dirs()
        else:
            names = self._split_names()
        if not names:
            raise ValueError(f'{type(self).__name__}: split {split!r} '
                             f'selects no buildings under {self.data_root!r}')
        return names

    def _folder(self, kind: str, building: str) -> str:
        if self.layout == 'omnidata':
            return osp.join(self.data_root, self.domains[kind], 'taskonomy',
                            building)
        if self._single_building:
            return osp.join(self.data_root, self.domains[kind])
        return osp.join(self.data_root, building, self.domains[kind])

    def load_data_list(self) -> List[dict]:
        """List every rgb view of the split's buildings."""
        self.check_data_root()
        self.detect_layout()
        data_list = []
        for building in self.buildings():
            rgb_dir = self._folder('image', building)
            if not osp.isdir(rgb_dir):
                raise FileNotFoundError(
                    f'{type(self).__name__}: rgb folder {rgb_dir!r} of '
                    f'building {building!r} not found ({self.layout} layout; '
                    f'expected {self.LAYOUT})')
            views = []
            for name in os.listdir(rgb_dir):
                match = _RGB_NAME.match(name)
                if match:
                    p, v = match.group(1), match.group(2)
                    views.append((int(p), int(v), p, v))
            if not views:
                raise FileNotFoundError(
                    f'{type(self).__name__}: no point_<P>_view_<V>_domain_rgb'
                    f'.png files in {rgb_dir!r} (building {building!r})')
            for point, view, p, v in sorted(views):
                stem = f'point_{p}_view_{v}_domain_'
                img_id = f'{building}/point_{p}_view_{v}'
                img_path = osp.join(rgb_dir, stem + 'rgb.png')
                task_paths = {}
                for task in self.tasks:
                    domain = self.domains[task]
                    path = osp.join(
                        self._folder(task, building), stem + domain + '.png')
                    if self.check_files:
                        self.require_file(path, f'{task} ({domain})', img_id,
                                          task=task)
                    task_paths[task] = path
                info = self._sample(img_id, img_path, task_paths)
                info.update(building=building, point=point, view=view)
                data_list.append(info)
        return data_list
