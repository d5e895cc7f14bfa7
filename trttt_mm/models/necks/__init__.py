from .task_projection import TaskProjectionNeck

__all__ = ['TaskProjectionNeck']
