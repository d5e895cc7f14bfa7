import math

import pytest
import torch

from trttt_mm.models.losses import BalancedBCELoss, DepthL1Loss, NormalL1Loss


def test_depth_l1_masks_invalid_and_nonfinite():
    pred = torch.tensor([[[[1.0, 2.0], [3.0, 100.0]]]])
    gt = torch.tensor([[[[2.0, 2.0], [0.0, float('nan')]]]])
    # valid: (0,0) err 1, (0,1) err 0 -> mean 0.5
    assert DepthL1Loss(loss_weight=2.0)(pred, gt).item() == pytest.approx(1.0)


def test_depth_l1_no_valid_pixel_is_zero_not_nan():
    pred = torch.ones(1, 1, 2, 2, requires_grad=True)
    loss = DepthL1Loss()(pred, torch.zeros(1, 1, 2, 2))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.isfinite(pred.grad).all()


def test_normal_l1_normalises_pred_and_skips_zero_gt():
    pred = torch.zeros(1, 3, 1, 2)
    pred[0, :, 0, 0] = torch.tensor([0.0, 0.0, 5.0])  # -> (0,0,1)
    pred[0, :, 0, 1] = torch.tensor([1.0, 0.0, 0.0])
    gt = torch.zeros(1, 3, 1, 2)
    gt[0, :, 0, 0] = torch.tensor([1.0, 0.0, 0.0])  # |diff| = (1,0,1)
    loss = NormalL1Loss(loss_weight=1.0)(pred, gt)  # second pixel invalid
    assert loss.item() == pytest.approx(2.0 / 3.0, rel=1e-5)


def test_balanced_bce_hand_computed():
    logits = torch.zeros(1, 1, 1, 3)  # p = 0.5 everywhere
    gt = torch.tensor([[[[1.0, 0.0, 255.0]]]])
    loss = BalancedBCELoss(pos_weight=0.9, loss_weight=1.0)(logits, gt)
    expected = (0.9 * math.log(2) + 0.1 * math.log(2)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_balanced_bce_rejects_bad_weight():
    with pytest.raises(ValueError, match='pos_weight'):
        BalancedBCELoss(pos_weight=1.5)
