from .launch import (add_runner_args, load_config, resolve_work_dir,  # noqa: F401
                     setup_launcher)
