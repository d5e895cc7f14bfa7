from .launch import resolve_work_dir, setup_launcher  # noqa: F401
