"""Task names and the facts every part of the package shares about them."""
from typing import Iterable, Tuple

TASKS: Tuple[str, ...] = ('semseg', 'depth', 'normal', 'edge')

#: Ground-truth key in the pipeline results dict, per task.
GT_KEYS = {
    'semseg': 'gt_seg_map',
    'depth': 'gt_depth_map',
    'normal': 'gt_normal_map',
    'edge': 'gt_edge_map',
}

#: Field name in ``SegDataSample`` for the ground truth, per task.
GT_FIELDS = {
    'semseg': 'gt_sem_seg',
    'depth': 'gt_depth_map',
    'normal': 'gt_normal_map',
    'edge': 'gt_edge_map',
}

#: Field name in ``SegDataSample`` for the prediction, per task.
PRED_FIELDS = {
    'semseg': 'pred_sem_seg',
    'depth': 'pred_depth_map',
    'normal': 'pred_normal_map',
    'edge': 'pred_edge_map',
}

#: Value that marks a pixel as invalid, per task (also the padding value).
IGNORE_VALUES = {'semseg': 255, 'depth': 0.0, 'normal': 0.0, 'edge': 255}

#: Number of output channels, per regression task (semseg: number of classes).
REGRESSION_CHANNELS = {'depth': 1, 'normal': 3, 'edge': 1}


def check_tasks(tasks: Iterable[str], where: str = 'tasks') -> Tuple[str, ...]:
    """Validate task names and return them as a tuple in the given order.

    Raises:
        ValueError: naming the unknown task, the argument and the known tasks.
    """
    if isinstance(tasks, str):
        tasks = (tasks, )
    tasks = tuple(tasks)
    if not tasks:
        raise ValueError(f'{where}: expected at least one task of {TASKS}')
    for t in tasks:
        if t not in TASKS:
            raise ValueError(
                f'{where}: unknown task {t!r}; expected a subset of {TASKS}')
    if len(set(tasks)) != len(tasks):
        raise ValueError(f'{where}: duplicate task names in {tasks}')
    return tasks
