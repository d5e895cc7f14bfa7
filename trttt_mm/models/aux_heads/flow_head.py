"""TTTFlow's auxiliary head: a normalising flow on one encoder stage."""
from typing import Dict, Optional, Sequence

from torch import Tensor

from mmseg.registry import MODELS

from ..flows import CouplingFlow2d, standard_normal_nll
from .base import BaseAuxHead


@MODELS.register_module()
class FlowHead(BaseAuxHead):
    """A RealNVP flow (:class:`~trttt_mm.models.flows.CouplingFlow2d`) on the
    feature map of one backbone level (TTTFlow, Osowiechi et al., WACV 2023).

    The flow models the whole ``(C, H, W)`` map: checkerboard couplings mix
    neighbouring positions through their 3x3 conditioners, as the official
    flow does on ResNet layer2 maps; the masks follow the input's size, so
    dense inputs of any resolution work. The likelihood is a standard normal
    base; the loss is the negative log-likelihood in nats per dimension
    (:meth:`nll`), averaged over channels and positions.

    Training (docs/methods.md, "Baselines"): the official recipe
    fits the flow after source training, on the frozen encoder
    (``configs/baselines/tttflow/*_flow.py`` with :class:`FlowStageHook`).
    With ``detach_input`` (default) the head may also ride along the source
    training of the multi-task model: in train mode its input is detached,
    so the flow's loss never reaches the encoder (the encoder's objective is
    the plain multi-task one) and the second stage starts from a warm flow.
    In eval mode (test time) the input is not detached: the test-time loss
    reaches the encoder through the frozen flow.

    Outputs of :meth:`forward`: ``z`` and ``log_det`` (element-wise, shape of
    the input).

    Args:
        in_channels: Channels of the level (default: from the context).
        hidden_channels: Conditioner width (default: ``in_channels``, as the
            official ``RealNVP(C, C, 2C, ...)``).
        num_couplings: Coupling layers (official: 3).
        mask_types: ``'checkerboard'`` (official) or ``'channel'``, or one per
            coupling.
        detach_input: Detach the input in train mode (see above).
        in_index: Backbone level (official best: layer2, level 1).
        loss_weight: Weight of the source NLL.
    """

    def __init__(self,
                 in_channels: Optional[int] = None,
                 hidden_channels: Optional[int] = None,
                 num_couplings: int = 3,
                 mask_types: Sequence[str] = 'checkerboard',
                 detach_input: bool = True,
                 in_index: int = 1,
                 loss_weight: float = 1.0,
                 context: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(source='backbone', in_index=in_index,
                         loss_weight=loss_weight, context=context,
                         init_cfg=init_cfg)
        c = int(in_channels) if in_channels is not None \
            else self.in_channels_from_context()
        h = int(hidden_channels) if hidden_channels is not None else c
        self.in_channels = c
        self.detach_input = bool(detach_input)
        self.flow = CouplingFlow2d(c, h, num_couplings=num_couplings,
                                   mask_types=mask_types)

    def forward(self, x: Tensor, views: Optional[dict] = None,
                **kwargs) -> Dict[str, Tensor]:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'FlowHead: expected (B, {self.in_channels}, H, '
                             f'W) features of level {self.in_index}, got '
                             f'{tuple(x.shape)}')
        if self.training and self.detach_input:
            x = x.detach()
        z, log_det = self.flow(x)
        return dict(z=z, log_det=log_det)

    @staticmethod
    def nll(outputs: Dict[str, Tensor],
            valid: Optional[Tensor] = None) -> Tensor:
        """NLL in nats per dimension (over ``valid`` positions, a
        ``(B, 1, H, W)`` bool map at the level's resolution, when given)."""
        return standard_normal_nll(outputs['z'], outputs['log_det'], valid)

    def loss(self, outputs: Dict[str, Tensor], gts: Dict[str, Tensor],
             model, inputs: Tensor) -> Dict[str, Tensor]:
        if self.loss_weight == 0:
            return {}
        return dict(loss_nll=self.loss_weight * self.nll(outputs))

    def ttt_loss(self, outputs: Dict[str, Tensor],
                 valid: Optional[Tensor] = None,
                 **kwargs) -> Dict[str, Tensor]:
        """TTTFlow's test-time objective: the NLL of the target features."""
        return dict(loss_nll=self.nll(outputs, valid))
