"""PASCAL-Context in the layout of the PASCAL_MT multi-task package."""
import os.path as osp
from typing import List, Optional, Sequence

from mmseg.registry import DATASETS

from .base import MultiTaskDataset, make_palette
from .class_maps import PASCAL_CLASSES
from .label_edges import default_edge_cache_dir, is_inside

#: Tasks PASCAL_MT has ground truth for (no depth).
PASCAL_TASKS = ('semseg', 'normal', 'edge')

#: Folders under ``data_root``; semantic maps are looked up in the order of
#: ``semseg`` (VOC12 first, then pascal-context).
PASCAL_FOLDERS = dict(
    image='JPEGImages',
    semseg=('semseg/VOC12', 'semseg/pascal-context'),
    normal='normals_distill',
    label_map='pascal-context/trainval',
    splits='ImageSets/Context',
)


@DATASETS.register_module()
class PascalContextMultiTaskDataset(MultiTaskDataset):
    """PASCAL-Context with semantic segmentation, normals and edges.

    Layout (PASCAL_MT package)::

        <data_root>/JPEGImages/<id>.jpg                 RGB image
        <data_root>/ImageSets/Context/{train,val}.txt   ids (4998 / 5105)
        <data_root>/semseg/VOC12/<id>.png               21 VOC classes
        <data_root>/semseg/pascal-context/<id>.png      (used when the VOC12
                                                         file is absent)
        <data_root>/pascal-context/trainval/<id>.mat    key LabelMap
        <data_root>/normals_distill/<id>.png            8-bit, 2 v / 255 - 1

    Ground truth:

    - ``semseg``: 8-bit VOC ids, 0 background, 1..20 the VOC classes, 255
      void. Native classes: the 21 VOC classes (void -> 255).
    - ``normal``: ``normals_distill`` were distilled from an NYUD-v2 model,
      so (like the reference) a normal is kept only on pixels whose
      ``LabelMap`` class is one of the 170 classes of
      ``trttt_mm.datasets.pascal_classes.PASCAL_CONTEXT_NORMALS_VALID_IDS``
      (all other pixels get the all-zero invalid normal).
    - ``edge``: ``thin(|Laplacian(LabelMap)| > 0)``, the one-pixel boundary
      of the PASCAL-Context label changes
      (:mod:`trttt_mm.datasets.label_edges`). It is computed on first use
      and cached per image: in memory (``edge_cache_size`` entries per
      process) and, unless ``edge_cache_dir=None``, on disk in
      ``edge_cache_dir`` (default ``$XDG_CACHE_HOME/trttt_mm/pascal_edges``,
      i.e. ``~/.cache/trttt_mm/pascal_edges``). Nothing is ever written into
      ``data_root``.
    - no ``depth``: asking for it is an error.

    Args:
        data_root: the ``PASCAL_MT`` folder.
        split: ``'train'`` or ``'val'`` (a name ``X`` means
            ``ImageSets/Context/X.txt``), or a path to a split file (relative
            paths are resolved against ``data_root``).
        tasks: subset of ``('semseg', 'normal', 'edge')``.
        class_map: ``None`` for the 21 VOC classes, or ``'t2p'``/``'p2t'``
            for the 6 classes shared with Taskonomy (others -> 255).
        edge_cache_dir: folder of the on-disk edge cache; ``'default'`` for
            the user cache folder above, None for the in-memory cache only.
            Must not lie inside ``data_root``.
        edge_cache_size: entries of the in-memory edge cache (bit-packed;
            0 disables it).
        check_files: check while listing that every file of every sample
            exists (one ``stat`` per file).
        **kwargs: see :class:`~trttt_mm.datasets.base.MultiTaskDataset`.
    """

    LABEL_SET = 'pascal'
    LAYOUT = ('the PASCAL_MT layout: JPEGImages/<id>.jpg, '
              'ImageSets/Context/<split>.txt, semseg/VOC12/<id>.png or '
              'semseg/pascal-context/<id>.png, '
              'pascal-context/trainval/<id>.mat (LabelMap), '
              'normals_distill/<id>.png')
    METAINFO = dict(
        classes=PASCAL_CLASSES, palette=make_palette(len(PASCAL_CLASSES)))

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 tasks: Sequence[str] = PASCAL_TASKS,
                 class_map: Optional[str] = None,
                 edge_cache_dir: Optional[str] = 'default',
                 edge_cache_size: int = 12000,
                 check_files: bool = True,
                 **kwargs) -> None:
        name = type(self).__name__
        if not isinstance(split, str):
            raise TypeError(f'{name}: split must be a name or a path, got '
                            f'{split!r}')
        if isinstance(tasks, str):
            tasks = (tasks, )
        if 'depth' in tuple(tasks):
            raise ValueError(
                f'{name}: PASCAL-Context has no depth ground truth; tasks '
                f'must be a subset of {PASCAL_TASKS}, got {tuple(tasks)}')
        if edge_cache_dir == 'default':
            edge_cache_dir = default_edge_cache_dir()
        if edge_cache_dir is not None:
            edge_cache_dir = osp.abspath(osp.expanduser(edge_cache_dir))
            if isinstance(data_root, str) and data_root and is_inside(
                    edge_cache_dir, data_root):
                raise ValueError(
                    f'{name}: edge_cache_dir {edge_cache_dir!r} lies inside '
                    f'the dataset folder {data_root!r}; nothing may be '
                    'written there. Choose a folder outside it (or None for '
                    'an in-memory cache only).')
        self.edge_cache_dir = edge_cache_dir
        self.edge_cache_size = int(edge_cache_size)
        self.check_files = check_files
        super().__init__(
            data_root=data_root,
            split=split,
            tasks=tasks,
            class_map=class_map,
            **kwargs)

    @classmethod
    def looks_like(cls, root: str) -> bool:
        """True if ``root`` has ``JPEGImages/`` and ``ImageSets/Context/``."""
        return osp.isdir(osp.join(
            root, PASCAL_FOLDERS['image'])) and osp.isdir(
                osp.join(root, PASCAL_FOLDERS['splits']))

    @classmethod
    def available_splits(cls, root: str) -> List[str]:
        """The ``X`` of every ``ImageSets/Context/X.txt``, sorted."""
        return cls._split_file_names(osp.join(root, PASCAL_FOLDERS['splits']))

    def decode_cfg(self) -> dict:
        return dict(
            semseg=dict(label_set=self.LABEL_SET, class_map=self.class_map),
            normal=dict(
                bit_depth=8,
                valid_label_map=dict(
                    path_key='label_map_path',
                    key='LabelMap',
                    valid_ids='pascal_context_normals')),
            edge=dict(
                source='label_map',
                key='LabelMap',
                cache_dir=self.edge_cache_dir,
                cache_size=self.edge_cache_size),
        )

    def _path(self, folder: str, img_id: str, suffix: str) -> str:
        return osp.join(self.data_root, folder, img_id + suffix)

    def _semseg_path(self, img_id: str) -> str:
        """The VOC12 file if it exists, else the pascal-context one."""
        candidates = [
            self._path(folder, img_id, '.png')
            for folder in PASCAL_FOLDERS['semseg']
        ]
        for path in candidates:
            if osp.isfile(path):
                return path
        if self.check_files:
            self.require_file(
                candidates[0], 'semseg (looked for '
                f'{" and then ".join(candidates)})', img_id, task='semseg')
        return candidates[0]

    def load_data_list(self) -> List[dict]:
        """List the samples of the split; every needed file must exist."""
        self.check_data_root()
        split_file = self.resolve_split_file(self.split,
                                             PASCAL_FOLDERS['splits'])
        need_label_map = 'normal' in self.tasks or 'edge' in self.tasks
        data_list = []
        for img_id in self.read_split_file(split_file):
            img_path = self._path(PASCAL_FOLDERS['image'], img_id, '.jpg')
            if self.check_files:
                self.require_file(img_path, 'image', img_id, task='image')
            label_map = self._path(PASCAL_FOLDERS['label_map'], img_id,
                                   '.mat')
            task_paths = {}
            for task in self.tasks:
                if task == 'semseg':
                    task_paths[task] = self._semseg_path(img_id)
                elif task == 'normal':
                    task_paths[task] = self._path(PASCAL_FOLDERS['normal'],
                                                  img_id, '.png')
                else:  # edge
                    task_paths[task] = label_map
            if self.check_files:
                if 'normal' in task_paths:
                    self.require_file(task_paths['normal'], 'normal', img_id,
                                      task='normal')
                for task in ('normal', 'edge'):
                    # one record per task that needs it (for the checker)
                    if task in self.tasks:
                        self.require_file(
                            label_map, 'label map (.mat with LabelMap, for '
                            'the edges and the normals mask)', img_id,
                            task=task)
            info = self._sample(img_id, img_path, task_paths)
            if need_label_map:
                info['label_map_path'] = label_map
            data_list.append(info)
        return data_list
