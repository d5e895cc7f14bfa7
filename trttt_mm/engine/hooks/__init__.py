from .monitor_hook import TTTMonitorHook  # noqa: F401
from .plain_checkpoint_hook import PlainCheckpointHook  # noqa: F401
from .source_stats_hook import SourceStatsHook, collect_source_stats  # noqa: F401
from .trttt_hook import LOSS_PRESETS, TRTTTHook  # noqa: F401
from .ttt_hook import BaseTTTHook, ttt_hook_names  # noqa: F401
from .norm_stats_hook import NORM_STATS_MODES, NormStatsHook  # noqa: F401
from .tent_hook import TENTHook  # noqa: F401
from .tipi_hook import TIPIHook  # noqa: F401
from .actmad_hook import ActMADHook  # noqa: F401
from .ttt_rotation_hook import TTTHook  # noqa: F401
from .tttpp_hook import TTTPlusPlusHook  # noqa: F401
from .encoder_stages import EncoderStageTTTHook  # noqa: F401
from .tttflow_hook import FlowStageHook, TTTFlowHook  # noqa: F401
from .clust3_hook import ClusT3Hook  # noqa: F401
from .ncttt_hook import NCTTTHook  # noqa: F401
from .visualization_hook import MultiTaskVisualizationHook  # noqa: F401
