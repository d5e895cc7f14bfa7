from .plain_checkpoint_hook import PlainCheckpointHook  # noqa: F401
from .trttt_hook import TRTTTHook  # noqa: F401
from .ttt_hook import BaseTTTHook, ttt_hook_names  # noqa: F401
