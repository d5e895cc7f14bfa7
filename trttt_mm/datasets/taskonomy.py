"""Taskonomy in the omnidata layout."""
import os
import os.path as osp
import re
from typing import List, Optional, Sequence, Union

from mmseg.registry import DATASETS

from trttt_mm.tasks import TASKS
from .base import MultiTaskDataset, make_palette
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


@DATASETS.register_module()
class TaskonomyMultiTaskDataset(MultiTaskDataset):
    """Taskonomy with semantic segmentation, depth, normals and edges.

    Layout (omnidata)::

        <data_root>/<domain>/taskonomy/<building>/
            point_<P>_view_<V>_domain_<domain>.png

    with domains ``rgb`` (8-bit), ``depth_zbuffer`` (16-bit, metres =
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
    any threshold in (0, 1)).

    Args:
        data_root: the folder holding the domain folders.
        split: the buildings: a list of building names, a path to a split
            file (one building per line; relative paths are resolved against
            ``data_root``; a path is anything absolute, containing ``/`` or
            ending with ``.txt``), or a name ``X`` meaning
            ``<data_root>/splits/X.txt``.
        tasks: subset of ``('semseg', 'depth', 'normal', 'edge')``.
        class_map: ``None`` for the 17 native classes (background .. vase ->
            0 .. 16, uncertain -> 255), ``'t2n'``/``'n2t'`` for the 7 classes
            shared with NYUD-v2 or ``'t2p'``/``'p2t'`` for the 6 shared with
            PASCAL (others -> 255).
        edge_domain: domain used for the edge task (``'edge_occlusion'`` or
            ``'edge_texture'``; both 16-bit).
        edge_threshold: see above.
        depth_scale: raw depth units per metre (512).
        depth_invalid_value: raw depth value that marks "no depth" (65535).
        check_files: check that every task file of every sample exists while
            listing (one ``stat`` per file; turn off only for huge splits).
        **kwargs: see :class:`~trttt_mm.datasets.base.MultiTaskDataset`.
    """

    LABEL_SET = 'taskonomy'
    LAYOUT = ('the omnidata Taskonomy layout: <domain>/taskonomy/<building>/'
              'point_<P>_view_<V>_domain_<domain>.png for domains rgb, '
              'depth_zbuffer, normal, edge_occlusion, segment_semantic')
    METAINFO = dict(
        classes=TASKONOMY_CLASSES,
        palette=make_palette(len(TASKONOMY_CLASSES)))

    def __init__(self,
                 data_root: str,
                 split: Union[str, Sequence[str]],
                 tasks: Sequence[str] = TASKS,
                 class_map: Optional[str] = None,
                 edge_domain: str = 'edge_occlusion',
                 edge_threshold: float = 0.02,
                 depth_scale: float = 512.0,
                 depth_invalid_value: Optional[int] = 65535,
                 check_files: bool = True,
                 **kwargs) -> None:
        if edge_domain not in ('edge_occlusion', 'edge_texture'):
            raise ValueError(
                f'{type(self).__name__}: unknown edge_domain {edge_domain!r}; '
                "expected 'edge_occlusion' or 'edge_texture'")
        self.domains = dict(TASKONOMY_DOMAINS, edge=edge_domain)
        self.edge_threshold = float(edge_threshold)
        self.depth_scale = float(depth_scale)
        self.depth_invalid_value = depth_invalid_value
        self.check_files = check_files
        super().__init__(
            data_root=data_root,
            split=split,
            tasks=tasks,
            class_map=class_map,
            **kwargs)

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

    def buildings(self) -> List[str]:
        """The building names that :attr:`split` selects."""
        split = self.split
        if isinstance(split, str):
            names = self.read_split_file(
                self.resolve_split_file(split, 'splits'))
        elif isinstance(split, Sequence) and all(
                isinstance(b, str) for b in split):
            names = list(split)
        else:
            raise TypeError(
                f'{type(self).__name__}: split must be a list of building '
                f'names, a split-file path or a split name, got {split!r}')
        if not names:
            raise ValueError(f'{type(self).__name__}: split {split!r} '
                             'selects no buildings')
        return names

    def _folder(self, kind: str, building: str) -> str:
        return osp.join(self.data_root, self.domains[kind], 'taskonomy',
                        building)

    def load_data_list(self) -> List[dict]:
        """List every rgb view of the split's buildings."""
        self.check_data_root()
        data_list = []
        for building in self.buildings():
            rgb_dir = self._folder('image', building)
            if not osp.isdir(rgb_dir):
                raise FileNotFoundError(
                    f'{type(self).__name__}: rgb folder {rgb_dir!r} of '
                    f'building {building!r} not found (expected '
                    f'{self.LAYOUT})')
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
                        self.require_file(path, f'{task} ({domain})', img_id)
                    task_paths[task] = path
                info = self._sample(img_id, img_path, task_paths)
                info.update(building=building, point=point, view=view)
                data_list.append(info)
        return data_list
