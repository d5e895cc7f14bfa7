from .launch import (ToolRunner, add_runner_args, claim_run_dir,  # noqa: F401
                     load_config, resolve_work_dir, setup_launcher)
