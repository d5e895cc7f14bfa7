"""Metrics for multi-task dense prediction (semseg, depth, normal, edge)."""
import logging
import math
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmengine.structures import BaseDataElement
from mmseg.registry import METRICS

from ...tasks import GT_FIELDS, IGNORE_VALUES, PRED_FIELDS, TASKS, check_tasks

#: Thresholds (degrees) of the ``normal/<t>`` keys: percent of valid pixels
#: whose angular error is strictly below ``t``.
NORMAL_THRESHOLDS: Tuple[Tuple[str, float], ...] = (('11.25', 11.25),
                                                    ('22.5', 22.5),
                                                    ('30', 30.0))

RMSE_MODES = ('pooled', 'aligned')


def _to_tensor(value: Any) -> Optional[torch.Tensor]:
    """Turn a data-sample field (dict / PixelData / tensor / array) into a
    CPU tensor, or ``None`` when there is nothing."""
    if value is None:
        return None
    if isinstance(value, dict):
        value = value.get('data')
    elif isinstance(value, BaseDataElement):
        value = value.get('data')
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if not isinstance(value, torch.Tensor):
        value = torch.as_tensor(value)
    return value.detach().cpu()


def _get_field(data_sample: Any, name: str) -> Optional[torch.Tensor]:
    if isinstance(data_sample, dict):
        return _to_tensor(data_sample.get(name))
    return _to_tensor(getattr(data_sample, name, None))


def _as_chw(t: torch.Tensor) -> torch.Tensor:
    return t.unsqueeze(0) if t.dim() == 2 else t


def _norm3(x: torch.Tensor) -> torch.Tensor:
    """L2 norm over the first dim of a ``(C, N)`` tensor, channel by channel."""
    out = x[0] * x[0]
    for c in range(1, x.shape[0]):
        out = out + x[c] * x[c]
    return out.sqrt()


def _aligned_rmse(pred: torch.Tensor, gt: torch.Tensor) -> float:
    """RMSE after the least-squares scale-and-shift fit ``s * pred + t ≈ gt``.

    Both inputs are 1-D float64 tensors of the same (non-zero) length.
    """
    pred_mean, gt_mean = pred.mean(), gt.mean()
    dp = pred - pred_mean
    var = (dp * dp).sum()
    if var > 0:
        scale = (dp * (gt - gt_mean)).sum() / var
    else:  # constant prediction: the best fit is the mean of gt
        scale = torch.zeros((), dtype=pred.dtype)
    shift = gt_mean - scale * pred_mean
    residual = scale * pred + shift - gt
    return float(torch.sqrt((residual * residual).mean()))


@METRICS.register_module()
class MultiTaskMetric(BaseMetric):
    """Evaluate semantic segmentation, depth, surface normals and edges.

    Each sample is reduced in :meth:`process`, on the CPU, to a small summary
    (a ``(C, C)`` int64 confusion matrix, float sums and counts, a sparse
    angle histogram), so collecting results across ranks is cheap; the
    metrics are pooled over the whole split in :meth:`compute_metrics`.

    Keys (without ``prefix``; with one, mmengine writes ``<prefix>/<key>``):

    - ``semseg/aAcc``, ``semseg/mIoU``, ``semseg/mAcc``: percent, from the
      confusion matrix pooled over the split. Ground-truth pixels equal to
      ``ignore_index`` (or outside ``[0, num_classes)``) never count.
      Per-class IoU / Acc are logged as a table.
    - ``depth/rmse`` (metres), ``depth/rmse_pooled``, ``depth/rmse_aligned``,
      ``depth/abs_rel``: over pixels whose ground truth is finite and > 0.
    - ``normal/mean_angle``, ``normal/median_angle``, ``normal/rmse_angle``
      (degrees) and ``normal/11.25``, ``normal/22.5``, ``normal/30`` (percent
      of pixels under the threshold): angle ``2·atan2(‖p−g‖, ‖p+g‖)`` between
      the L2-normalised prediction and ground truth, over pixels whose ground
      truth is finite and not all-zero. The median comes from a histogram of
      ``normal_bin_width`` degrees (exact to that width).
    - ``edge/rmse``, ``edge/rmse_pooled``, ``edge/rmse_aligned``: predicted
      probability against the {0, 1} ground truth over pixels not equal to
      255 (and finite).

    RMSE variants (depth and edge): ``<task>/rmse_pooled`` is the root of the
    mean squared error over every valid pixel of the split;
    ``<task>/rmse_aligned`` follows the reference code: per evaluation batch
    (one :meth:`process` call) the prediction is fitted to the ground truth by
    a least-squares scale and shift over the batch's valid pixels, the RMSE of
    the fitted prediction is taken, and these per-batch RMSEs are averaged
    over batches. Both are always written; ``<task>/rmse`` equals the one that
    ``rmse_mode`` names.

    A sample that lacks a task's prediction or ground truth is skipped for that
    task. A task seen in no sample writes no keys.

    Args:
        tasks: tasks to evaluate; ``None`` evaluates every task whose
            prediction and ground truth appear in the data samples.
        num_classes: number of semantic classes; ``None`` takes
            ``len(dataset_meta['classes'])``.
        ignore_index: ignored semseg label.
        absent_class_zero: count a class absent from both prediction and
            ground truth as IoU 0 in ``semseg/mIoU`` (the reference
            convention) instead of skipping it (mmseg's convention, default).
            ``semseg/mAcc`` always skips classes absent from the ground truth.
        rmse_mode: ``'pooled'`` or ``'aligned'``: which variant ``depth/rmse``
            and ``edge/rmse`` report.
        normal_bin_width: histogram bin width in degrees for the median angle.
        log_per_class: log the per-class IoU/Acc table on each evaluation.
        collect_device: ``'cpu'`` or ``'gpu'``, as in mmengine.
        prefix: prefix of every key; ``None`` writes ``semseg/mIoU`` etc.
        collect_dir: temporary directory for CPU collection, as in mmengine.
    """

    def __init__(self,
                 tasks: Optional[Sequence[str]] = None,
                 num_classes: Optional[int] = None,
                 ignore_index: int = 255,
                 absent_class_zero: bool = False,
                 rmse_mode: str = 'pooled',
                 normal_bin_width: float = 0.01,
                 log_per_class: bool = True,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(
            collect_device=collect_device,
            prefix=prefix,
            collect_dir=collect_dir)
        self.tasks = None if tasks is None else check_tasks(
            tasks, 'MultiTaskMetric.tasks')
        if num_classes is not None and int(num_classes) < 1:
            raise ValueError(
                f'MultiTaskMetric: num_classes must be >= 1, got {num_classes}')
        self.num_classes = None if num_classes is None else int(num_classes)
        self.ignore_index = ignore_index
        self.absent_class_zero = bool(absent_class_zero)
        if rmse_mode not in RMSE_MODES:
            raise ValueError(f'MultiTaskMetric: rmse_mode must be one of '
                             f'{RMSE_MODES}, got {rmse_mode!r}')
        self.rmse_mode = rmse_mode
        self.log_per_class = bool(log_per_class)
        if not normal_bin_width > 0:
            raise ValueError('MultiTaskMetric: normal_bin_width must be > 0, '
                             f'got {normal_bin_width}')
        self.normal_bin_width = float(normal_bin_width)
        self._num_bins = int(math.ceil(180.0 / self.normal_bin_width)) + 1

    # ------------------------------------------------------------------ #
    # helpers
    # ------------------------------------------------------------------ #
    def _get_num_classes(self) -> int:
        if self.num_classes is not None:
            return self.num_classes
        classes = (self.dataset_meta or {}).get('classes')
        if not classes:
            raise ValueError(
                'MultiTaskMetric: semseg needs num_classes or '
                "dataset_meta['classes'], and neither is set")
        return len(classes)

    def _pair(self, data_sample: Any,
              task: str) -> Optional[Tuple[torch.Tensor, torch.Tensor]]:
        pred = _get_field(data_sample, PRED_FIELDS[task])
        gt = _get_field(data_sample, GT_FIELDS[task])
        if pred is None or gt is None:
            return None
        pred, gt = _as_chw(pred), _as_chw(gt)
        if pred.shape != gt.shape:
            raise ValueError(
                f'MultiTaskMetric: {task} prediction {PRED_FIELDS[task]} has '
                f'shape {tuple(pred.shape)} but ground truth {GT_FIELDS[task]} '
                f'has shape {tuple(gt.shape)}')
        return pred, gt

    def _semseg_summary(self, pred: torch.Tensor, gt: torch.Tensor) -> dict:
        num_classes = self._get_num_classes()
        gt = gt.reshape(-1).long()
        pred = pred.reshape(-1).long()
        valid = (gt != self.ignore_index) & (gt >= 0) & (gt < num_classes)
        gt, pred = gt[valid], pred[valid]
        if pred.numel() and (pred.min() < 0 or pred.max() >= num_classes):
            raise ValueError(
                f'MultiTaskMetric: semseg prediction holds labels outside '
                f'[0, {num_classes}) (min {int(pred.min())}, max '
                f'{int(pred.max())})')
        confusion = torch.bincount(
            gt * num_classes + pred, minlength=num_classes**2)
        return dict(confusion=confusion.reshape(num_classes, num_classes))

    @staticmethod
    def _scalar_summary(pred: torch.Tensor, gt: torch.Tensor,
                        valid: torch.Tensor) -> Tuple[dict, torch.Tensor,
                                                      torch.Tensor]:
        p = pred[valid].double()
        g = gt[valid].double()
        err = p - g
        summary = dict(sse=float((err * err).sum()), count=int(valid.sum()))
        return summary, p, g

    def _depth_summary(self, pred, gt):
        valid = torch.isfinite(gt) & (gt > 0)
        summary, p, g = self._scalar_summary(pred, gt, valid)
        summary['abs_rel_sum'] = float(((p - g).abs() / g).sum())
        return summary, p, g

    def _edge_summary(self, pred, gt):
        valid = torch.isfinite(gt) & (gt != IGNORE_VALUES['edge'])
        return self._scalar_summary(pred, gt, valid)

    def _normal_summary(self, pred: torch.Tensor, gt: torch.Tensor) -> dict:
        # Channel-wise arithmetic instead of reductions over dim 0 (norm,
        # normalize, all/any), which are tens of times slower on the CPU.
        gt = gt.double()
        valid = torch.ones(gt.shape[1:], dtype=torch.bool)
        nonzero = torch.zeros(gt.shape[1:], dtype=torch.bool)
        for c in range(gt.shape[0]):
            valid &= torch.isfinite(gt[c])
            nonzero |= gt[c] != 0
        valid &= nonzero
        g = gt[:, valid]
        p = pred.double()[:, valid]
        g = g / _norm3(g)
        p = p / _norm3(p).clamp_min(1e-12)
        angle = torch.rad2deg(2 * torch.atan2(_norm3(p - g), _norm3(p + g)))
        bins = (angle / self.normal_bin_width).floor().long().clamp_(
            0, self._num_bins - 1)
        hist = torch.bincount(bins, minlength=self._num_bins)
        idx = hist.nonzero().squeeze(1)
        summary = dict(
            angle_sum=float(angle.sum()),
            angle_sq_sum=float((angle * angle).sum()),
            count=int(angle.numel()),
            hist_idx=idx.int(),
            hist_count=hist[idx].int())
        for name, thr in NORMAL_THRESHOLDS:
            summary[f'under_{name}'] = int((angle < thr).sum())
        return summary

    # ------------------------------------------------------------------ #
    # BaseMetric interface
    # ------------------------------------------------------------------ #
    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Reduce each sample of a batch to a summary in ``self.results``.

        Args:
            data_batch: the batch from the dataloader (unused).
            data_samples: the model outputs, as dicts (what mmengine's
                ``Evaluator`` passes) or ``SegDataSample``s.

        Raises:
            ValueError: a prediction's shape differs from its ground truth's
                (naming the task), or semseg has no class count.
        """
        tasks = self.tasks if self.tasks is not None else TASKS
        summaries: List[dict] = []
        aligned: Dict[str, list] = dict(depth=[], edge=[])
        for data_sample in data_samples:
            summary = {}
            for task in tasks:
                pair = self._pair(data_sample, task)
                if pair is None:
                    continue
                pred, gt = pair
                if task == 'semseg':
                    summary[task] = self._semseg_summary(pred, gt)
                elif task == 'normal':
                    summary[task] = self._normal_summary(pred, gt)
                else:
                    fn = self._depth_summary if task == 'depth' \
                        else self._edge_summary
                    summary[task], p, g = fn(pred, gt)
                    if p.numel():
                        aligned[task].append((len(summaries), p, g))
            summaries.append(summary)
        # Per-batch aligned RMSE, spread over the batch's samples with weights
        # summing to one, so that the mean over batches survives collection.
        for task, entries in aligned.items():
            if not entries:
                continue
            rmse = _aligned_rmse(
                torch.cat([e[1] for e in entries]),
                torch.cat([e[2] for e in entries]))
            weight = 1.0 / len(entries)
            for index, _, _ in entries:
                summaries[index][task]['aligned_weight'] = weight
                summaries[index][task]['aligned_rmse_weighted'] = weight * rmse
        self.results.extend(summaries)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Pool the per-sample summaries into the flat metrics dict."""
        seen = [t for t in TASKS if any(t in r for r in results)]
        if self.tasks is not None:
            missing = [t for t in self.tasks if t not in seen]
            if missing:
                print_log(
                    f'MultiTaskMetric: no sample carried {missing}; '
                    'they get no metrics',
                    logger='current',
                    level=logging.WARNING)
            seen = [t for t in self.tasks if t in seen]
        metrics: Dict[str, float] = OrderedDict()
        for task in seen:
            parts = [r[task] for r in results if task in r]
            if task == 'semseg':
                metrics.update(self._semseg_metrics(parts))
            elif task == 'normal':
                metrics.update(self._normal_metrics(parts))
            else:
                metrics.update(self._scalar_metrics(task, parts))
        return dict(metrics)

    # ------------------------------------------------------------------ #
    # pooling
    # ------------------------------------------------------------------ #
    def _semseg_metrics(self, parts: List[dict]) -> Dict[str, float]:
        confusion = torch.stack([p['confusion'] for p in parts]).sum(0)
        conf = confusion.double().numpy()
        tp = np.diag(conf)
        gt_count = conf.sum(1)
        pred_count = conf.sum(0)
        union = gt_count + pred_count - tp
        with np.errstate(divide='ignore', invalid='ignore'):
            iou = np.where(union > 0, tp / union, np.nan)
            acc = np.where(gt_count > 0, tp / gt_count, np.nan)
            total = conf.sum()
            a_acc = tp.sum() / total if total > 0 else float('nan')
        miou_terms = np.nan_to_num(iou, nan=0.0) \
            if self.absent_class_zero else iou
        metrics = {
            'semseg/aAcc': float(a_acc * 100),
            'semseg/mIoU': _nanmean(miou_terms) * 100,
            'semseg/mAcc': _nanmean(acc) * 100,
        }
        if self.log_per_class:
            self._log_class_table(iou, acc)
        return metrics

    def _log_class_table(self, iou: np.ndarray, acc: np.ndarray) -> None:
        try:
            from prettytable import PrettyTable
        except ImportError:  # pragma: no cover - prettytable ships with mmseg
            return
        classes = (self.dataset_meta or {}).get('classes')
        if not classes or len(classes) != len(iou):
            classes = [str(i) for i in range(len(iou))]
        table = PrettyTable()
        table.add_column('Class', list(classes))
        table.add_column('IoU', [_fmt(v) for v in iou])
        table.add_column('Acc', [_fmt(v) for v in acc])
        print_log('per class results (semseg):', logger='current')
        print_log('\n' + table.get_string(), logger='current')

    def _scalar_metrics(self, task: str, parts: List[dict]) -> Dict[str, float]:
        count = sum(p['count'] for p in parts)
        sse = sum(p['sse'] for p in parts)
        pooled = math.sqrt(sse / count) if count else float('nan')
        weight = sum(p.get('aligned_weight', 0.0) for p in parts)
        aligned = sum(p.get('aligned_rmse_weighted', 0.0)
                      for p in parts) / weight if weight > 0 else float('nan')
        if count == 0:
            print_log(
                f'MultiTaskMetric: {task} has no valid pixel; its metrics '
                'are NaN',
                logger='current',
                level=logging.WARNING)
        metrics = {
            f'{task}/rmse': pooled if self.rmse_mode == 'pooled' else aligned,
            f'{task}/rmse_pooled': pooled,
            f'{task}/rmse_aligned': aligned,
        }
        if task == 'depth':
            metrics['depth/abs_rel'] = sum(
                p['abs_rel_sum']
                for p in parts) / count if count else float('nan')
        return metrics

    def _normal_metrics(self, parts: List[dict]) -> Dict[str, float]:
        count = sum(p['count'] for p in parts)
        if count == 0:
            print_log(
                'MultiTaskMetric: normal has no valid pixel; its metrics '
                'are NaN',
                logger='current',
                level=logging.WARNING)
            nan = float('nan')
            metrics = {
                'normal/mean_angle': nan,
                'normal/median_angle': nan,
                'normal/rmse_angle': nan
            }
            metrics.update({f'normal/{n}': nan for n, _ in NORMAL_THRESHOLDS})
            return metrics
        hist = torch.zeros(self._num_bins, dtype=torch.int64)
        for p in parts:
            hist.index_add_(0, p['hist_idx'].long(), p['hist_count'].long())
        metrics = {
            'normal/mean_angle': sum(p['angle_sum'] for p in parts) / count,
            'normal/median_angle': self._hist_median(hist, count),
            'normal/rmse_angle': math.sqrt(
                sum(p['angle_sq_sum'] for p in parts) / count),
        }
        for name, _ in NORMAL_THRESHOLDS:
            metrics[f'normal/{name}'] = sum(p[f'under_{name}']
                                            for p in parts) / count * 100
        return metrics

    def _hist_median(self, hist: torch.Tensor, count: int) -> float:
        """Median angle from the histogram, linearly interpolated in its bin."""
        cum = hist.cumsum(0)
        half = count / 2.0
        k = int(torch.searchsorted(cum.double(),
                                   torch.tensor([half], dtype=torch.float64)))
        k = min(k, self._num_bins - 1)
        before = float(cum[k] - hist[k])
        frac = (half - before) / float(hist[k]) if hist[k] > 0 else 0.0
        return min((k + frac) * self.normal_bin_width, 180.0)


def _nanmean(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else float('nan')


def _fmt(value: float) -> str:
    return 'nan' if np.isnan(value) else f'{value * 100:.2f}'
