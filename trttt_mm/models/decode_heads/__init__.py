from .multi_task_head import MultiTaskHead, task_out_channels  # noqa: F401
