"""Multi-task data transforms (registered in mmseg's ``TRANSFORMS``)."""
from .formatting import PackMultiTaskInputs
from .geometric import (MultiTaskRandomCrop, MultiTaskRandomFlip,
                        MultiTaskResize)
from .loading import LoadMultiTaskAnnotations, LoadMultiTaskImageFromFile

__all__ = [
    'LoadMultiTaskImageFromFile', 'LoadMultiTaskAnnotations',
    'MultiTaskResize', 'MultiTaskRandomFlip', 'MultiTaskRandomCrop',
    'PackMultiTaskInputs'
]
