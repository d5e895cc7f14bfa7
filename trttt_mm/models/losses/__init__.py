from .dense_losses import (RELEASED_EDGE_TARGET, BalancedBCELoss,
                           ContinuousEdgeL1Loss, DepthL1Loss, NormalL1Loss,
                           gaussian_blur)
from .uncertainty_weighting import UncertaintyWeighting, task_of_loss_key

__all__ = [
    'BalancedBCELoss', 'ContinuousEdgeL1Loss', 'DepthL1Loss', 'NormalL1Loss',
    'RELEASED_EDGE_TARGET', 'UncertaintyWeighting', 'gaussian_blur',
    'task_of_loss_key'
]
