from .monitor_hook import TTTMonitorHook  # noqa: F401
from .plain_checkpoint_hook import PlainCheckpointHook  # noqa: F401
from .source_stats_hook import SourceStatsHook, collect_source_stats  # noqa: F401
from .trttt_hook import LOSS_PRESETS, TRTTTHook  # noqa: F401
from .ttt_hook import BaseTTTHook, ttt_hook_names  # noqa: F401
