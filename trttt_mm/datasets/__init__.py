"""Multi-task datasets, their label maps and data transforms.

Importing this package registers the datasets in mmseg's ``DATASETS`` and the
transforms in mmseg's ``TRANSFORMS``.
"""
from .base import DataFormatError, MultiTaskDataset
from .class_maps import (SHARED_CLASS_MAPS, build_label_lut, class_names,
                         known_label_values)
from .label_edges import EdgeCache, label_map_edges, thin
from .nyudv2 import NYUDv2MultiTaskDataset
from .pascal_classes import (PASCAL_CONTEXT_NORMALS_VALID_IDS,
                             PASCAL_CONTEXT_NORMALS_VALID_NAMES)
from .pascal_context import PascalContextMultiTaskDataset
from .taskonomy import TaskonomyMultiTaskDataset
from .transforms import (LoadMultiTaskAnnotations, LoadMultiTaskImageFromFile,
                         MultiTaskRandomCrop, MultiTaskRandomFlip,
                         MultiTaskResize, PackMultiTaskInputs)

__all__ = [
    'MultiTaskDataset', 'DataFormatError', 'NYUDv2MultiTaskDataset',
    'PascalContextMultiTaskDataset', 'TaskonomyMultiTaskDataset',
    'PASCAL_CONTEXT_NORMALS_VALID_IDS', 'PASCAL_CONTEXT_NORMALS_VALID_NAMES',
    'EdgeCache', 'label_map_edges', 'thin', 'build_label_lut', 'class_names',
    'known_label_values', 'SHARED_CLASS_MAPS', 'LoadMultiTaskImageFromFile',
    'LoadMultiTaskAnnotations', 'MultiTaskResize', 'MultiTaskRandomFlip',
    'MultiTaskRandomCrop', 'PackMultiTaskInputs'
]
