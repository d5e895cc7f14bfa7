"""NYUD-v2 in the layout of the ATRC multi-task package."""
import os.path as osp
from typing import List, Optional, Sequence

from mmseg.registry import DATASETS

from trttt_mm.tasks import TASKS
from .base import MultiTaskDataset, make_palette
from .class_maps import NYUDV2_CLASSES

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
    ``.npy``: pass ``img_suffix='.jpg', normal_suffix='.npy',
    edge_suffix='.npy'``.

    Args:
        data_root: the ``NYUDv2`` folder.
        split: ``'train'`` or ``'val'`` (any name ``X`` means
            ``gt_sets/X.txt``), or a path to a split file (relative paths
            are resolved against ``data_root``).
        tasks: subset of ``('semseg', 'depth', 'normal', 'edge')``.
        class_map: ``None`` for the 40 NYU-40 classes (file value ``v`` ->
            ``v - 1``, ``0`` -> 255), or ``'t2n'``/``'n2t'`` for the 7
            classes shared with Taskonomy (others -> 255).
        img_suffix, normal_suffix, edge_suffix: file suffixes.
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
              'gt_sets/<split>.txt')
    METAINFO = dict(
        classes=NYUDV2_CLASSES, palette=make_palette(len(NYUDV2_CLASSES)))

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 tasks: Sequence[str] = TASKS,
                 class_map: Optional[str] = None,
                 img_suffix: str = '.png',
                 normal_suffix: str = '.png',
                 edge_suffix: str = '.png',
                 edge_threshold: float = 0.5,
                 **kwargs) -> None:
        if not isinstance(split, str):
            raise TypeError(f'{type(self).__name__}: split must be a name '
                            f'or a path, got {split!r}')
        self.suffixes = dict(
            image=img_suffix,
            semseg='.png',
            depth='.npy',
            normal=normal_suffix,
            edge=edge_suffix)
        self.edge_threshold = float(edge_threshold)
        super().__init__(
            data_root=data_root,
            split=split,
            tasks=tasks,
            class_map=class_map,
            **kwargs)

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
        data_list = []
        for img_id in self.read_split_file(split_file):
            img_path = self._path('image', img_id)
            self.require_file(img_path, 'image', img_id)
            task_paths = {}
            for task in self.tasks:
                path = self._path(task, img_id)
                self.require_file(path, task, img_id)
                task_paths[task] = path
            data_list.append(self._sample(img_id, img_path, task_paths))
        return data_list
