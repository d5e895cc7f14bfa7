from .launch import (ToolRunner, add_runner_args, claim_run_dir,  # noqa: F401
                     load_config, resolve_work_dir, setup_launcher)
from .random_batch import random_multitask_batch  # noqa: F401
from .timing import median_seconds, sync  # noqa: F401
from .jsonio import read_json  # noqa: F401
