from .dense_losses import BalancedBCELoss, DepthL1Loss, NormalL1Loss

__all__ = ['BalancedBCELoss', 'DepthL1Loss', 'NormalL1Loss']
