"""Task names and everything the package knows about each task, in one place.

Every part that needs a per-task fact (the data pipeline, the model, the
test-time hooks, the metric, the dataset checker) reads it from here:

* names: the pipeline key (:data:`GT_KEYS`), the ``SegDataSample`` fields of
  the ground truth (:data:`GT_FIELDS`) and of the prediction
  (:data:`PRED_FIELDS`), the dataset's path key (:data:`PATH_KEYS`);
* values: the invalid/padding value (:data:`IGNORE_VALUES`), output channels
  (:data:`REGRESSION_CHANNELS`), the kind of output (:data:`TASK_KINDS`);
* operations on model outputs: :func:`activate` (raw output → prediction
  space), :func:`pseudo_label` (raw output → a target the task's training loss
  accepts), :func:`flip_output` (undo a flip; normals negate a component),
  :func:`pack_prediction` (activated output → ``SegDataSample`` fields) and
  :func:`stack_gts` (ground truth of a batch → one tensor per task).
"""
from typing import Dict, Iterable, Sequence, Tuple

import torch
from mmengine.structures import PixelData

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

#: Key of the annotation file path in a dataset's ``data_info``, per task.
PATH_KEYS = {
    'semseg': 'seg_map_path',
    'depth': 'depth_path',
    'normal': 'normal_path',
    'edge': 'edge_path',
}

#: Value that marks a pixel as invalid, per task (also the padding value).
IGNORE_VALUES = {'semseg': 255, 'depth': 0.0, 'normal': 0.0, 'edge': 255}

#: Number of output channels, per regression task (semseg: number of classes).
REGRESSION_CHANNELS = {'depth': 1, 'normal': 3, 'edge': 1}

#: What a raw output is: ``'classification'`` (logits over classes, softmax),
#: ``'binary'`` (one logit per pixel, sigmoid), ``'regression'`` (values as
#: they are) or ``'direction'`` (unnormalised unit vectors).
TASK_KINDS = {
    'semseg': 'classification',
    'depth': 'regression',
    'normal': 'direction',
    'edge': 'binary',
}


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


def activate(task: str, raw: torch.Tensor) -> torch.Tensor:
    """Map a raw ``(B, C, H, W)`` output to its prediction space.

    semseg: softmax over classes; normal: L2-normalised vectors; edge:
    sigmoid probability; depth: unchanged.
    """
    kind = TASK_KINDS[task]
    if kind == 'classification':
        return raw.softmax(dim=1)
    if kind == 'direction':
        return normalize_channels(raw)
    if kind == 'binary':
        return raw.sigmoid()
    return raw


def normalize_channels(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``x / max(||x||_2, eps)`` over dim 1 (what ``F.normalize(x, dim=1,
    eps=eps)`` computes), as one reduction and an ``rsqrt`` instead of a
    strided norm: about 5x faster forward+backward on CPU for (B, 3, H, W)
    maps (docs/benchmarks.md, ``make demo``). All-zero vectors stay
    zero."""
    return x * torch.rsqrt(
        (x * x).sum(dim=1, keepdim=True).clamp_min(eps * eps))


def pseudo_label(task: str, raw: torch.Tensor) -> torch.Tensor:
    """A detached target in the form the task's training loss accepts.

    semseg: argmax class ids as a ``(B, 1, H, W)`` float map; normal: unit
    vectors; edge: the probability thresholded at 0.5; depth: the prediction
    clamped at 1e-3 (depth 0 means "invalid" to the loss).
    """
    y = raw.detach()
    kind = TASK_KINDS[task]
    if kind == 'classification':
        return y.argmax(dim=1, keepdim=True).float()
    if kind == 'direction':
        return normalize_channels(y)
    if kind == 'binary':
        return (y.sigmoid() > 0.5).float()
    return y.clamp(min=1e-3)


def flip_output(task: str, x: torch.Tensor, direction: str) -> torch.Tensor:
    """Undo a flip of a ``(B, C, H, W)`` output.

    ``direction`` is ``'horizontal'`` or ``'vertical'``. A horizontal flip
    negates a normal's x component, a vertical one its y component.
    """
    if direction not in ('horizontal', 'vertical'):
        raise ValueError(f"flip direction must be 'horizontal' or "
                         f"'vertical', got {direction!r}")
    horizontal = direction == 'horizontal'
    x = x.flip(dims=(3, ) if horizontal else (2, ))
    if TASK_KINDS[task] == 'direction':
        sign = torch.ones(x.shape[1], 1, 1, device=x.device, dtype=x.dtype)
        sign[0 if horizontal else 1] = -1
        x = x * sign
    return x


def pack_prediction(task: str, raw: torch.Tensor) -> Dict[str, PixelData]:
    """``SegDataSample`` prediction fields of one sample's raw ``(C, H, W)``
    output (already at the original image size).

    semseg gives ``seg_logits`` and ``pred_sem_seg`` (argmax); the other tasks
    give their :data:`PRED_FIELDS` entry with the activated output.
    """
    if TASK_KINDS[task] == 'classification':
        return {
            'seg_logits': PixelData(data=raw),
            PRED_FIELDS[task]: PixelData(
                data=raw.argmax(dim=0, keepdim=True)),
        }
    return {PRED_FIELDS[task]: PixelData(data=activate(task, raw[None])[0])}


def stack_gts(data_samples: Sequence, tasks: Sequence[str]
              ) -> Dict[str, torch.Tensor]:
    """Stack each task's (already padded) ground truth into a batch tensor.

    A task is returned only when every sample carries it.

    Raises:
        ValueError: when samples in one batch disagree in ground-truth shape.
    """
    gts = {}
    for task in tasks:
        field = GT_FIELDS[task]
        if not data_samples or not all(field in ds for ds in data_samples):
            continue
        maps = [getattr(ds, field).data for ds in data_samples]
        shapes = {tuple(m.shape) for m in maps}
        if len(shapes) != 1:
            raise ValueError(f'{field}: samples in one batch have different '
                             f'shapes {sorted(shapes)}; the data preprocessor '
                             'must pad them to one size')
        gts[task] = torch.stack(maps).float()
    return gts
