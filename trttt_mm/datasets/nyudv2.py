"""NYUD-v2 in the layouts of the ATRC and MTI-Net multi-task packages."""
import os.path as osp
from typing import List, Optional, Sequence

from mmseg.registry import DATASETS

from trttt_mm.tasks import TASKS
from .base import MultiTaskDataset, make_palette
from .class_maps import NYUDV2_CLASSES

#: Suffixes that ``'auto'`` tries, in order (ATRC's first, then MTI-Net's).
AUTO_SUFFIXES = dict(
    image=('.png', '.jpg', '.jpeg'),
    normal=('.png', '.npy'),
    edge=('.png', '.npy'),
)

#: Folder of each task's files under ``data_root``.
NYUD_FOLDERS = {
    'image': 'images',
    'semseg': 'segmentation',
    'depth': 'depth',
    'normal': 'normals',
    'edge': 'edge',
}


@DATASETS.register_module()
class NYUDv2MultiTaskDataset(MultiTaskDataset):
    """NYUD-v2 with semantic segmentation, depth, normals and edges.

    Layout (ATRC package, ids zero-padded to 4 digits)::

        <data_root>/images/<id>.png          RGB image
        <data_root>/depth/<id>.npy           float32 depth in metres
        <data_root>/normals/<id>.png         8-bit, n = 2 * v / 255 - 1
        <data_root>/segmentation/<id>.png    8-bit, 0 unlabelled, 1..40 NYU-40
        <data_root>/edge/<id>.png            8-bit, edge = v / 255 > 0.5
        <data_root>/gt_sets/{train,val}.txt  one id per line (795 / 654)

    The MTI-Net package stores images as ``.jpg`` and normals/edges as
    ``.npy`` (float normals in [-1, 1], float edges in {0, 1}). With the
    suffix arguments at their default ``'auto'`` the dataset finds out from
    the files: for each of images, normals and edges it takes the first
    suffix (in the order of :data:`AUTO_SUFFIXES`, ATRC's first) under which
    the first sample of the split that has such a file has one, and then
    requires that suffix for every sample. Pass the suffixes to choose
    (e.g. ``img_suffix='.jpg', normal_suffix='.npy', edge_suffix='.npy'``).
    :attr:`suffixes` holds the result after listing.

    Args:
        data_root: the ``NYUDv2`` folder.
        split: ``'train'`` or ``'val'`` (any name ``X`` means
            ``gt_sets/X.txt``), or a path to a split file (relative paths
            are resolved against ``data_root``).
        tasks: subset of ``('semseg', 'depth', 'normal', 'edge')``.
        class_map: ``None`` for the 40 NYU-40 classes (file value ``v`` ->
            ``v - 1``, ``0`` -> 255), or ``'t2n'``/``'n2t'`` for the 7
            classes shared with Taskonomy (others -> 255).
        img_suffix, normal_suffix, edge_suffix: file suffixes, or
            ``'auto'`` (default) to detect them (see above).
        edge_threshold: an edge pixel is ``v / 255 > edge_threshold``
            (the ATRC edge maps are binary 0/255, so any value in (0, 1)
            gives the same result).
        **kwargs: see :class:`~trttt_mm.datasets.base.MultiTaskDataset`
            (``pipeline``, ``test_mode``, ``lazy_init``, ``indices``,
            ``serialize_data``, ``metainfo``, ...).
    """

    LABEL_SET = 'nyudv2'
    LAYOUT = ('the ATRC NYUDv2 layout: images/<id>.png, depth/<id>.npy, '
              'normals/<id>.png, segmentation/<id>.png, edge/<id>.png, '
              'gt_sets/<split>.txt; or the MTI-Net one with images/<id>.jpg, '
              'normals/<id>.npy, edge/<id>.npy')
    METAINFO = dict(
        classes=NYUDV2_CLASSES, palette=make_palette(len(NYUDV2_CLASSES)))

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 tasks: Sequence[str] = TASKS,
                 class_map: Optional[str] = None,
                 img_suffix: str = 'auto',
                 normal_suffix: str = 'auto',
                 edge_suffix: str = 'auto',
                 edge_threshold: float = 0.5,
                 **kwargs) -> None:
        if not isinstance(split, str):
            raise TypeError(f'{type(self).__name__}: split must be a name '
                            f'or a path, got {split!r}')
        for arg, value, kind in (('img_suffix', img_suffix, 'image'),
                                 ('normal_suffix', normal_suffix, 'normal'),
                                 ('edge_suffix', edge_suffix, 'edge')):
            if value != 'auto' and value not in AUTO_SUFFIXES[kind]:
                raise ValueError(
                    f'{type(self).__name__}: {arg} must be \'auto\' or one '
                    f'of {AUTO_SUFFIXES[kind]}, got {value!r}')
        self.suffix_args = dict(
            image=img_suffix,
            semseg='.png',
            depth='.npy',
            normal=normal_suffix,
            edge=edge_suffix)
        self.suffixes = dict(self.suffix_args)
        self.edge_threshold = float(edge_threshold)
        super().__init__(
            data_root=data_root,
            split=split,
            tasks=tasks,
            class_map=class_map,
            **kwargs)

    @classmethod
    def looks_like(cls, root: str) -> bool:
        """True if ``root`` has ``gt_sets/`` and ``images/`` folders."""
        return osp.isdir(osp.join(root, 'gt_sets')) and osp.isdir(
            osp.join(root, NYUD_FOLDERS['image']))

    @classmethod
    def available_splits(cls, root: str) -> List[str]:
        """The ``X`` of every ``gt_sets/X.txt``, sorted."""
        return cls._split_file_names(osp.join(root, 'gt_sets'))

    def decode_cfg(self) -> dict:
        return dict(
            semseg=dict(label_set=self.LABEL_SET, class_map=self.class_map),
            depth=dict(scale=1.0, invalid_value=None),
            normal=dict(bit_depth=8),
            edge=dict(bit_depth=8, threshold=self.edge_threshold),
        )

    def _path(self, kind: str, img_id: str) -> str:
        return osp.join(self.data_root, NYUD_FOLDERS[kind],
                        img_id + self.suffixes[kind])

    def load_data_list(self) -> List[dict]:
        """List the samples of the split; every listed file must exist."""
        self.check_data_root()
        split_file = self.resolve_split_file(self.split, 'gt_sets')
        ids = self.read_split_file(split_file)
        self.suffixes = self.detect_suffixes(ids)
        data_list = []
        for img_id in ids:
            img_path = self._path('image', img_id)
            self.require_file(img_path, 'image', img_id, task='image')
            task_paths = {}
            for task in self.tasks:
                path = self._path(task, img_id)
                self.require_file(path, task, img_id, task=task)
                task_paths[task] = path
            data_list.append(self._sample(img_id, img_path, task_paths))
        return data_list

    def detect_suffixes(self, ids: Sequence[str]) -> dict:
        """Resolve the ``'auto'`` suffixes from the files of ``ids``.

        For each ``'auto'`` kind, the first id with a file under one of the
        :data:`AUTO_SUFFIXES` decides (the first suffix found wins). If no
        id has any, the first candidate is kept, so the missing-file error
        names the ATRC path.
        """
        suffixes = dict(self.suffix_args)
        for kind, candidates in AUTO_SUFFIXES.items():
            if suffixes[kind] != 'auto':
                continue
            if kind != 'image' and kind not in self.tasks:
                suffixes[kind] = candidates[0]
                continue
            found = None
            for img_id in ids:
                for suffix in candidates:
                    if osp.isfile(
                            osp.join(self.data_root, NYUD_FOLDERS[kind],
                                     img_id + suffix)):
                        found = suffix
                        break
                if found is not None:
                    break
            suffixes[kind] = found or candidates[0]
        return suffixes

    @property
    def package(self) -> str:
        """``'atrc'``, ``'mtinet'`` or ``'custom'``: which package's
        suffixes :attr:`suffixes` match (after listing)."""
        picked = (self.suffixes['image'], self.suffixes['normal'],
                  self.suffixes['edge'])
        if picked == ('.png', '.png', '.png'):
            return 'atrc'
        if picked == ('.jpg', '.npy', '.npy'):
            return 'mtinet'
        return 'custom'
