"""Model parts; importing this registers them in mmseg's MODELS registry."""
from .data_preprocessors import MultiTaskDataPreProcessor  # noqa: F401
from .decode_heads import MultiTaskHead  # noqa: F401
from .losses import BalancedBCELoss, DepthL1Loss, NormalL1Loss  # noqa: F401
from .necks import *  # noqa: F401,F403
from .relation import *  # noqa: F401,F403
from .aux_heads import *  # noqa: F401,F403
from .segmentors import MultiTaskEncoderDecoder  # noqa: F401
