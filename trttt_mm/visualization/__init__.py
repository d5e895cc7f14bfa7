"""Visualisation of multi-task predictions (``MultiTaskLocalVisualizer``,
registered in mmseg's ``VISUALIZERS``)."""
from .local_visualizer import (BASE_PRED_FIELDS, MultiTaskLocalVisualizer,
                               fit_to_image)
from .panel import PanelLayout
from .task_maps import INVALID_COLOR

__all__ = [
    'MultiTaskLocalVisualizer', 'BASE_PRED_FIELDS', 'PanelLayout',
    'INVALID_COLOR', 'fit_to_image'
]
