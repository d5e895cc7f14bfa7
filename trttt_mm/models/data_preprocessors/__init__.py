from .multi_task_preprocessor import MultiTaskDataPreProcessor, stack_gts  # noqa: F401
